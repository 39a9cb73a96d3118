import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { revokeCertificateFile } from "../../cli/certs/crl.js";
import { pkiLayout, writePemFiles } from "../../cli/certs/pki-files.js";
import { createCa, issueAgentCertificate, issueControllerCertificate, type CertificatePem } from "../../cli/certs/pki.js";

/** Paths of a certificate and its key. */
export interface CertPaths {
  cert: string;
  key: string;
}

export interface IssueAgentTestOptions {
  /** Issue a certificate whose validity ended yesterday. Default: false. */
  expired?: boolean;
  /** Validity in days. Default: 397. */
  days?: number;
}

/**
 * A throw-away PKI in a temporary directory, laid out as `secarc certs`
 * lays it out (ca.pem, ca-key.pem, controller.pem, controller-key.pem,
 * agents/NAME.pem, agents/NAME-key.pem, crl.pem).
 */
export interface TestPki {
  dir: string;
  /** The CA certificate. */
  ca: string;
  /** The CA private key. */
  caKey: string;
  /** The controller's server certificate: CN localhost, SANs localhost, 127.0.0.1, ::1. */
  controller: CertPaths;
  /** Issues an agent client certificate (CN = name). A second certificate for the same name gets paths agents/NAME.2.pem, ... */
  issueAgent(name: string, options?: IssueAgentTestOptions): Promise<CertPaths>;
  /** Another CA, unrelated to `ca`, and an agent certificate it signed (CN "foreign"). */
  foreign: { ca: string; agent: CertPaths; issueAgent(name: string): Promise<CertPaths> };
  /** Adds the certificate to dir/crl.pem (created on first use); resolves to the CRL path. */
  revoke(certPath: string): Promise<string>;
  /** Removes the directory. */
  cleanup(): void;
}

interface Material {
  ca: CertificatePem;
  controller: CertificatePem;
  foreignCa: CertificatePem;
  foreignAgent: CertificatePem;
}

let material: Promise<Material> | undefined;

/** The CAs and the controller certificate are generated once per process; each TestPki gets its own directory. */
function sharedMaterial(): Promise<Material> {
  material ??= (async () => {
    const ca = await createCa({ commonName: "SecARC test CA" });
    const foreignCa = await createCa({ commonName: "Foreign test CA" });
    return {
      ca,
      controller: await issueControllerCertificate(ca, { hosts: ["localhost", "127.0.0.1", "::1"] }),
      foreignCa,
      foreignAgent: await issueAgentCertificate(foreignCa, { name: "foreign" }),
    };
  })();
  return material;
}

export async function createTestPki(): Promise<TestPki> {
  const m = await sharedMaterial();
  const dir = mkdtempSync(join(tmpdir(), "secarc-pki-"));
  const layout = pkiLayout(dir);
  const foreignDir = join(dir, "foreign");
  const foreignLayout = pkiLayout(foreignDir);
  const put = (paths: CertPaths, pem: CertificatePem): CertPaths => {
    writePemFiles([
      { path: paths.key, content: pem.key, private: true },
      { path: paths.cert, content: pem.cert, private: false },
    ]);
    return paths;
  };
  put({ cert: layout.ca, key: layout.caKey }, m.ca);
  const controller = put({ cert: layout.controller, key: layout.controllerKey }, m.controller);
  put({ cert: foreignLayout.ca, key: foreignLayout.caKey }, m.foreignCa);
  const foreignAgent = put(foreignLayout.agent("foreign"), m.foreignAgent);

  const counts = new Map<string, number>([[`${foreignDir}\0foreign`, 1]]);
  const agentPaths = (l: typeof layout, name: string): CertPaths => {
    const key = `${l.dir}\0${name}`;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    return l.agent(n === 1 ? name : `${name}.${n}`);
  };

  return {
    dir,
    ca: layout.ca,
    caKey: layout.caKey,
    controller,
    async issueAgent(name, options = {}) {
      const now = options.expired ? new Date(Date.now() - 10 * 86_400_000) : new Date();
      const days = options.days ?? (options.expired ? 1 : undefined);
      const pem = await issueAgentCertificate(m.ca, { name, now, ...(days === undefined ? {} : { days }) });
      return put(agentPaths(layout, name), pem);
    },
    foreign: {
      ca: foreignLayout.ca,
      agent: foreignAgent,
      async issueAgent(name) {
        return put(agentPaths(foreignLayout, name), await issueAgentCertificate(m.foreignCa, { name }));
      },
    },
    async revoke(certPath) {
      return (await revokeCertificateFile(dir, certPath)).crlPath;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
