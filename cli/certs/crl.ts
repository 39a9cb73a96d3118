import { readFileSync, statSync } from "node:fs";
import { SecarcError, describeError } from "../../common/errors.js";
import { isValidAgentId } from "../../common/ids.js";
import { loadCa, type CertificatePem } from "./pki.js";
import { pkiLayout, readCaFiles, writePemFiles } from "./pki-files.js";
import { x509 } from "./x509.js";

/**
 * Revocation: crl.pem lists the serials of revoked certificates, signed by
 * the CA. The controller's `tls.crl` hands it to Node's TLS, which then
 * refuses those client certificates at the handshake; a running controller
 * re-reads the file when it changes and ends the live streams of the
 * certificates it newly revokes.
 *
 * The CRL's nextUpdate is the CA's own expiry: OpenSSL treats a CRL past its
 * nextUpdate as expired and would then refuse every agent, so the CRL must
 * not go stale while the CA is valid. It is re-signed on every revoke.
 */

/** One revoked certificate. */
export interface RevokedEntry {
  /** Serial number, lowercase hex. */
  serial: string;
  /** When it was revoked. */
  date: Date;
}

/** Signs a CRL listing `revoked`, issued by the CA. */
export async function createCrl(ca: CertificatePem, revoked: RevokedEntry[], now: Date = new Date()): Promise<string> {
  const authority = await loadCa(ca);
  const crl = await x509.X509CrlGenerator.create({
    issuer: authority.cert.subjectName,
    thisUpdate: wholeSeconds(now),
    nextUpdate: authority.cert.notAfter,
    signingKey: authority.key,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(authority.cert.publicKey)],
    // Every entry carries an invalidity date: OpenSSL refuses a CRL entry with an empty extension list,
    // which is what the generator writes for an entry without extensions.
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: wholeSeconds(r.date), invalidity: wholeSeconds(r.date) })),
  });
  // OpenSSL (and so Node's tls `crl` option) reads only the "X509 CRL" PEM label.
  return x509.PemConverter.encode(crl.rawData, "X509 CRL") + "\n";
}

/** The entries of a CRL, after checking that the CA signed it. */
export async function readCrl(ca: CertificatePem, pem: string): Promise<RevokedEntry[]> {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(pem);
  } catch (err) {
    throw new SecarcError("tls_invalid", `not a PEM CRL: ${describeError(err)}`, { cause: err });
  }
  const authority = await loadCa(ca);
  if (!(await crl.verify({ publicKey: authority.cert }))) {
    throw new SecarcError("tls_invalid", "the CRL was not signed by this CA");
  }
  // @peculiar/x509 2.2 loses the entries of a CRL without nextUpdate; every CRL made here has one.
  if (crl.nextUpdate === undefined) throw new SecarcError("tls_invalid", "the CRL has no nextUpdate; it was not made by secarc certs");
  return crl.entries.map((e) => ({ serial: e.serialNumber.toLowerCase(), date: e.revocationDate }));
}

export interface RevokeResult {
  /** The CRL written. */
  crlPath: string;
  /** Serial of the revoked certificate, lowercase hex. */
  serial: string;
  /** Subject of the revoked certificate. */
  subject: string;
  /** True when the certificate was already in the CRL (the CRL is re-signed anyway). */
  alreadyRevoked: boolean;
  /** Number of certificates the CRL now lists. */
  total: number;
}

/**
 * What `secarc certs revoke` was given: a certificate file, or an agent's
 * name (its certificate DIR/agents/NAME.pem). An existing file wins.
 */
export function revokeTarget(dir: string, fileOrName: string): string {
  if (exists(fileOrName)) return fileOrName;
  const byName = pkiLayout(dir).agent(fileOrName).cert;
  if (isValidAgentId(fileOrName) && exists(byName)) return byName;
  throw new SecarcError("input_invalid", `no certificate file ${fileOrName}${isValidAgentId(fileOrName) ? ` and no agent certificate ${byName}` : ""}`);
}

/** `secarc certs revoke FILE`: adds the certificate in FILE to DIR/crl.pem (created if needed). */
export async function revokeCertificateFile(dir: string, certPath: string, now: Date = new Date()): Promise<RevokeResult> {
  const ca = readCaFiles(dir);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(readFileSync(certPath, "utf8"));
  } catch (err) {
    throw new SecarcError("input_invalid", `cannot read certificate ${certPath}: ${describeError(err)}`, { cause: err });
  }
  const authority = await loadCa(ca);
  if (!(await cert.verify({ publicKey: authority.cert, signatureOnly: true }))) {
    throw new SecarcError("refused", `${certPath} (${cert.subject}) was not issued by the CA in ${dir}`);
  }
  const crlPath = pkiLayout(dir).crl;
  const entries = exists(crlPath) ? await readCrl(ca, readFileSync(crlPath, "utf8")) : [];
  const serial = cert.serialNumber.toLowerCase();
  const alreadyRevoked = entries.some((e) => e.serial === serial);
  if (!alreadyRevoked) entries.push({ serial, date: now });
  writePemFiles([{ path: crlPath, content: await createCrl(ca, entries, now), private: false }], { force: true });
  return { crlPath, serial, subject: cert.subject, alreadyRevoked, total: entries.length };
}

/**
 * Writes DIR/crl.pem listing no certificate (for `secarc certs init`), so that
 * the controller can be given `tls.crl` from the start.
 */
export async function writeEmptyCrlFile(dir: string, options: { force?: boolean; now?: Date } = {}): Promise<string> {
  const crlPath = pkiLayout(dir).crl;
  const content = await createCrl(readCaFiles(dir), [], options.now ?? new Date());
  writePemFiles([{ path: crlPath, content, private: false }], { force: options.force ?? false });
  return crlPath;
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
