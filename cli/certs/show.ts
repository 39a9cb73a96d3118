import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { SecarcError, describeError } from "../../common/errors.js";
import { x509 } from "./x509.js";

/** Within this many days of expiry `show` warns. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** What `secarc certs show` prints about one certificate. */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  /** "CA", "controller (server)", "agent (client)" or "other". */
  role: string;
  /** Subject alternative names as Node prints them ("DNS:localhost, IP Address:127.0.0.1"), or "" */
  names: string;
  /** Serial number, lowercase hex. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
  /** A warning when the certificate has expired, expires within 30 days or is not valid yet. */
  warning?: string;
}

/** Summarises a PEM certificate as seen at `now`. */
export function summarizeCertificate(pem: string | Buffer, now: Date = new Date()): CertificateSummary {
  const cert = new X509Certificate(pem);
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  const left = notAfter.getTime() - now.getTime();
  const daysLeft = Math.floor(left / DAY_MS);
  const usages = cert.keyUsage ?? [];
  const role = cert.ca ? "CA" : usages.includes(SERVER_AUTH) ? "controller (server)" : usages.includes(CLIENT_AUTH) ? "agent (client)" : "other";
  let warning: string | undefined;
  if (left <= 0) warning = `expired on ${notAfter.toISOString()}`;
  else if (now < notBefore) warning = `not valid before ${notBefore.toISOString()}`;
  else if (daysLeft < EXPIRY_WARNING_DAYS) warning = `expires in ${daysLeft} day${daysLeft === 1 ? "" : "s"}`;
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    role,
    names: cert.subjectAltName ?? "",
    serial: cert.serialNumber.toLowerCase(),
    notBefore,
    notAfter,
    daysLeft,
    ...(warning === undefined ? {} : { warning }),
  };
}

/** The lines `secarc certs show FILE` prints: a certificate's summary, or a CRL's issuer and revoked serials. */
export function showFile(path: string, now: Date = new Date()): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SecarcError("input_invalid", `cannot read ${path}: ${describeError(err)}`, { cause: err });
  }
  if (text.includes("-----BEGIN X509 CRL-----")) return showCrl(path, text);
  let s: CertificateSummary;
  try {
    s = summarizeCertificate(text, now);
  } catch (err) {
    throw new SecarcError("input_invalid", `${path} is not a PEM certificate or CRL: ${describeError(err)}`, { cause: err });
  }
  const lines = [
    `file:       ${path}`,
    `subject:    ${s.subject}`,
    `issuer:     ${s.issuer}`,
    `role:       ${s.role}`,
    ...(s.names ? [`names:      ${s.names}`] : []),
    `serial:     ${s.serial}`,
    `not before: ${s.notBefore.toISOString()}`,
    `not after:  ${s.notAfter.toISOString()} (${s.daysLeft < 0 ? "expired" : `${s.daysLeft} days left`})`,
  ];
  if (s.warning) lines.push(`warning:    ${s.warning}; issue a new certificate (secarc certs issue ... --force) and restart the service that uses it`);
  return lines;
}

function showCrl(path: string, text: string): string[] {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(text);
  } catch (err) {
    throw new SecarcError("input_invalid", `${path} is not a PEM CRL: ${describeError(err)}`, { cause: err });
  }
  return [
    `file:       ${path}`,
    `crl issuer: ${crl.issuer}`,
    `updated:    ${crl.thisUpdate.toISOString()}`,
    `revoked:    ${crl.entries.length}`,
    ...crl.entries.map((e) => `  serial ${e.serialNumber.toLowerCase()} revoked ${e.revocationDate.toISOString()}`),
  ];
}

function oneLine(name: string): string {
  return name.split("\n").join(", ");
}
