import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { SecarcError, describeError } from "./errors.js";
import type { Logger } from "./log.js";
import { checkTlsIdentity, type TlsCheckOptions } from "./tls-checks.js";

export type { TlsRole } from "./tls-checks.js";

/** Paths of the PEM files one side of the link needs. */
export interface TlsPaths {
  /** The SecARC CA certificate that peers must chain to. */
  ca: string;
  /** This side's certificate. */
  cert: string;
  /** This side's private key (readable by the owner only). */
  key: string;
}

/** The PEM contents of TlsPaths. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads the PEM files and refuses, naming the file and the fix, what would
 * fail later (common/tls-checks.ts): a key others may read, a key that is
 * not the certificate's, a certificate the CA did not sign, one outside its
 * validity, or (with `role`) one issued for the other side.
 */
export function loadTlsMaterial(paths: TlsPaths, options: TlsCheckOptions = {}): TlsMaterial {
  const read = (what: keyof TlsPaths): Buffer => {
    try {
      return readFileSync(paths[what]);
    } catch (err) {
      throw new SecarcError("tls_invalid", `cannot read TLS ${what} file ${paths[what]}: ${describeError(err)}`, { cause: err });
    }
  };
  const material = { ca: read("ca"), cert: read("cert"), key: read("key") };
  try {
    new X509Certificate(material.cert);
    new X509Certificate(material.ca);
  } catch (err) {
    throw new SecarcError("tls_invalid", `TLS certificate ${paths.cert} or CA ${paths.ca} is not a PEM certificate: ${describeError(err)}`, { cause: err });
  }
  checkTlsIdentity({ paths, ...material }, options);
  return material;
}

/** The identity a certificate carries: its subject common name. */
export function certificateIdentity(cert: X509Certificate | Buffer | string): string | undefined {
  const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  for (const line of x509.subject.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return undefined;
}

/** Milliseconds until the certificate expires (negative once expired). */
export function certificateTimeLeft(cert: Buffer | string, now: number = Date.now()): number {
  return new Date(new X509Certificate(cert).validTo).getTime() - now;
}

const WARN_WITHIN_MS = 30 * 86_400_000;

/** Logs the certificate's expiry, as a warning when it is within 30 days (or past). */
export function logCertificateExpiry(logger: Logger, what: string, cert: Buffer, now: number = Date.now()): void {
  const x509 = new X509Certificate(cert);
  const left = new Date(x509.validTo).getTime() - now;
  const days = Math.floor(left / 86_400_000);
  const fields = { certificate: what, subject: certificateIdentity(x509), expires: new Date(x509.validTo).toISOString(), daysLeft: days };
  if (left <= 0) logger.error(fields, `${what} certificate has expired; renew it with secarc certs issue`);
  else if (left <= WARN_WITHIN_MS) logger.warn(fields, `${what} certificate expires in ${days} days; renew it with secarc certs issue`);
  else logger.info(fields, `${what} certificate valid for ${days} more days`);
}
