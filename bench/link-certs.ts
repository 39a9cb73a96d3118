import { randomBytes, type webcrypto } from "node:crypto";
import { createCa, issueControllerCertificate, loadCa, type CertificatePem } from "../cli/certs/pki.js";
import { crypto, x509 } from "../cli/certs/x509.js";

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

export interface BenchPki {
  ca: CertificatePem;
  controller: CertificatePem;
  /** Agent client certificates (CN = name), all sharing one key: identity is the CN, and a key per agent would only slow the set-up. */
  agents: Array<{ name: string; cert: string; key: string }>;
}

/**
 * Many agent certificates fast, for the link benchmark: the CA is loaded
 * once and one key pair serves every agent, so each certificate costs one
 * signature. `secarc certs issue agent` makes a fresh key per agent, as
 * production should.
 */
export async function createBenchPki(agentCount: number, prefix = "bench"): Promise<BenchPki> {
  const ca = await createCa({ commonName: "SecARC bench CA" });
  const controller = await issueControllerCertificate(ca, { hosts: ["localhost", "127.0.0.1", "::1"] });
  const authority = await loadCa(ca);
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const keyPem = x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const aki = await x509.AuthorityKeyIdentifierExtension.create(authority.cert.publicKey);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 86_400_000);
  const agents: BenchPki["agents"] = [];
  const issue = async (i: number) => {
    const name = `${prefix}-${i}`;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: `4${randomBytes(15).toString("hex")}`,
      subject: [{ CN: [name] }],
      issuer: authority.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: authority.key,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        ski,
        aki,
      ],
    });
    agents[i] = { name, cert: cert.toString("pem"), key: keyPem };
  };
  // Signatures run in libuv's thread pool: a few at a time use both cores.
  for (let i = 0; i < agentCount; i += 64) {
    await Promise.all(Array.from({ length: Math.min(64, agentCount - i) }, (_, j) => issue(i + j)));
  }
  return { ca, controller, agents };
}
