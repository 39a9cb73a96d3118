import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { SecarcError, describeError } from "../../common/errors.js";
import {
  createCa,
  issueAgentCertificate,
  issueControllerCertificate,
  type CertificatePem,
  type IssuedCertificate,
  type ValidityOptions,
} from "./pki.js";

/**
 * Where the PKI lives in its directory:
 *
 *   ca.pem, ca-key.pem                  the certificate authority
 *   controller.pem, controller-key.pem  the controller's server certificate
 *   agents/NAME.pem, agents/NAME-key.pem  one client certificate per agent
 *   crl.pem                             revoked certificates (secarc certs revoke)
 */
export interface PkiLayout {
  dir: string;
  ca: string;
  caKey: string;
  controller: string;
  controllerKey: string;
  crl: string;
  agentsDir: string;
  agent(name: string): { cert: string; key: string };
}

export function pkiLayout(dir: string): PkiLayout {
  const agentsDir = join(dir, "agents");
  return {
    dir,
    ca: join(dir, "ca.pem"),
    caKey: join(dir, "ca-key.pem"),
    controller: join(dir, "controller.pem"),
    controllerKey: join(dir, "controller-key.pem"),
    crl: join(dir, "crl.pem"),
    agentsDir,
    agent: (name) => ({ cert: join(agentsDir, `${name}.pem`), key: join(agentsDir, `${name}-key.pem`) }),
  };
}

/** One file to write: private files (keys) get mode 0600, others 0644. */
export interface PemFile {
  path: string;
  content: string;
  private: boolean;
}

export interface WriteOptions {
  /** Replace files that already exist. Default: false (refuse). */
  force?: boolean;
}

/**
 * Writes the files, each atomically and created with its final mode (a key
 * is never readable by others, not even for a moment). Without `force`,
 * nothing is written if any of the files already exists.
 */
export function writePemFiles(files: PemFile[], options: WriteOptions = {}): void {
  if (!options.force) {
    const existing = files.filter((f) => exists(f.path)).map((f) => f.path);
    if (existing.length > 0) {
      throw new SecarcError("refused", `${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; use --force to replace`);
    }
  }
  for (const file of files) {
    mkdirSync(dirname(file.path), { recursive: true, mode: 0o700 });
    const temp = `${file.path}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      const fd = openSync(temp, "wx", file.private ? 0o600 : 0o644);
      try {
        writeSync(fd, file.content);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (options.force) renameSync(temp, file.path);
      else linkSync(temp, file.path); // fails if the file appeared meanwhile
    } catch (err) {
      throw new SecarcError("refused", `cannot write ${file.path}: ${describeError(err)}`, { cause: err });
    } finally {
      try {
        unlinkSync(temp);
      } catch {
        // already renamed
      }
    }
  }
}

/** Reads the CA certificate and key from DIR; a missing CA is a clear error. */
export function readCaFiles(dir: string): CertificatePem {
  const layout = pkiLayout(dir);
  if (!exists(layout.ca) || !exists(layout.caKey)) {
    throw new SecarcError("refused", `no CA in ${dir} (${layout.ca} and ${layout.caKey}); run secarc certs init first`);
  }
  return { cert: readFileSync(layout.ca, "utf8"), key: readFileSync(layout.caKey, "utf8") };
}

export interface IssueFilesOptions extends ValidityOptions, WriteOptions {}

/** Result of writing: the certificate issued and the paths written. */
export interface WrittenCertificate extends IssuedCertificate {
  certPath: string;
  keyPath: string;
}

/** `secarc certs init`: a new CA in DIR. */
export async function initCaFiles(dir: string, options: IssueFilesOptions & { commonName?: string } = {}): Promise<WrittenCertificate> {
  const layout = pkiLayout(dir);
  return write(await createCa(options), layout.ca, layout.caKey, options);
}

/** `secarc certs issue controller`: controller.pem and controller-key.pem in DIR. */
export async function issueControllerFiles(dir: string, options: IssueFilesOptions & { hosts: string[] }): Promise<WrittenCertificate> {
  const layout = pkiLayout(dir);
  return write(await issueControllerCertificate(readCaFiles(dir), options), layout.controller, layout.controllerKey, options);
}

/** `secarc certs issue agent NAME`: agents/NAME.pem and agents/NAME-key.pem in DIR. */
export async function issueAgentFiles(dir: string, options: IssueFilesOptions & { name: string }): Promise<WrittenCertificate> {
  const issued = await issueAgentCertificate(readCaFiles(dir), options);
  const paths = pkiLayout(dir).agent(options.name);
  return write(issued, paths.cert, paths.key, options);
}

function write(issued: IssuedCertificate, certPath: string, keyPath: string, options: WriteOptions): WrittenCertificate {
  writePemFiles(
    [
      { path: keyPath, content: issued.key, private: true },
      { path: certPath, content: issued.cert, private: false },
    ],
    options,
  );
  return { ...issued, certPath, keyPath };
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
