import { createPrivateKey, randomBytes, sign, X509Certificate as NodeX509 } from "node:crypto";
import { createCa, exportKey, generateKeys, issueControllerCertificate, loadCa, randomSerial, signLeafCertificate, type CertificatePem } from "../cli/certs/pki.js";
import { x509 } from "../cli/certs/x509.js";

export interface BenchPki {
  ca: CertificatePem;
  controller: CertificatePem;
  /** Agent client certificates (CN = name); all share one key (see createBenchPki). */
  agents: Array<{ name: string; cert: string; key: string }>;
}

/** DER length octets. */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}

/** Offset and total size of the DER element starting at `offset`. */
function derElement(der: Buffer, offset: number): { start: number; end: number } {
  let length = der[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i += 1) length = (length << 8) | der[offset + 2 + i]!;
    header += octets;
  }
  return { start: offset, end: offset + header + length };
}

/**
 * Many agent certificates fast, for the link benchmark. One certificate is
 * made properly with @peculiar/x509 as a template; every other one is the
 * template's to-be-signed part with its CN and serial replaced (same
 * lengths) and a fresh CA signature. All agents share one key pair: the
 * identity is the CN, and a key per agent would only slow the set-up.
 * `secarc certs issue agent` makes a fresh key per agent, as production
 * should. Each certificate is checked against the CA with node:crypto.
 */
export async function createBenchPki(agentCount: number, prefix = "bench"): Promise<BenchPki> {
  const ca = await createCa({ commonName: "SecARC bench CA" });
  const controller = await issueControllerCertificate(ca, { hosts: ["localhost", "127.0.0.1", "::1"] });
  const authority = await loadCa(ca);
  const keys = await generateKeys();
  const keyPem = await exportKey(keys.privateKey);
  const width = String(Math.max(agentCount - 1, 0)).length;
  const nameOf = (i: number) => `${prefix}-${String(i).padStart(width, "0")}`;
  const serial = randomSerial();
  const template = await signLeafCertificate(authority, {
    serialNumber: serial,
    commonName: nameOf(0),
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    usage: x509.ExtendedKeyUsage.clientAuth,
  });
  const der = Buffer.from(template.rawData);
  const outer = derElement(der, 0);
  const contentStart = outer.start + (der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2);
  const tbsRange = derElement(der, contentStart);
  const algRange = derElement(der, tbsRange.end);
  const tbsTemplate = der.subarray(tbsRange.start, tbsRange.end);
  const algorithm = der.subarray(algRange.start, algRange.end);
  const nameAt = tbsTemplate.indexOf(Buffer.from(nameOf(0)));
  const serialAt = tbsTemplate.indexOf(Buffer.from(serial, "hex"));
  if (nameAt < 0 || serialAt < 0) throw new Error("bench certificate template: CN or serial not found");
  const caKey = createPrivateKey(ca.key);
  const caCert = new NodeX509(ca.cert);

  const agents: BenchPki["agents"] = [];
  for (let i = 0; i < agentCount; i += 1) {
    const name = nameOf(i);
    const tbs = Buffer.from(tbsTemplate);
    tbs.write(name, nameAt, "latin1");
    const fresh = randomBytes(16);
    fresh[0] = (fresh[0]! & 0x3f) | 0x40;
    fresh.copy(tbs, serialAt);
    const signature = sign("sha256", tbs, caKey);
    const bitString = Buffer.concat([Buffer.from([0x03]), derLength(signature.length + 1), Buffer.from([0x00]), signature]);
    const body = Buffer.concat([tbs, algorithm, bitString]);
    const certDer = Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
    const pem = `-----BEGIN CERTIFICATE-----\n${certDer.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
    if (i === 0 || i === agentCount - 1) {
      const check = new NodeX509(pem);
      if (!check.verify(caCert.publicKey) || !check.subject.includes(`CN=${name}`)) throw new Error(`bench certificate ${name} does not verify`);
    }
    agents.push({ name, cert: pem, key: keyPem });
  }
  return { ca, controller, agents };
}
