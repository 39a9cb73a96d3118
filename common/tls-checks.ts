import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { statSync } from "node:fs";
import { SecarcError } from "./errors.js";

/** Which side of the link a TLS identity is for: what its certificate must allow. */
export type TlsRole = "controller" | "agent";

/** The extended key usage each role needs (TLS server for the controller, TLS client for agents). */
const ROLE_USAGE = {
  controller: { oid: "1.3.6.1.5.5.7.3.1", name: "serverAuth", issue: "secarc certs issue controller --host NAME" },
  agent: { oid: "1.3.6.1.5.5.7.3.2", name: "clientAuth", issue: "secarc certs issue agent NAME" },
} as const satisfies Record<TlsRole, { oid: string; name: string; issue: string }>;

const USAGE_NAMES: Record<string, string> = { "1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth" };

/** The files and their contents, as loadTlsMaterial read them. */
export interface TlsIdentityInput {
  paths: { ca: string; cert: string; key: string };
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface TlsCheckOptions {
  /** Checks the certificate's extended key usage for this role. Default: no usage check. */
  role?: TlsRole;
  /** The clock validity is checked against. Default: Date.now(). */
  now?: number;
}

const refuse = (message: string, cause?: unknown) => new SecarcError("tls_invalid", message, cause === undefined ? {} : { cause });

/**
 * The mistakes that would otherwise pass silently until a peer connects,
 * refused at start with the file and the fix: a private key others may
 * read, a key that is not the certificate's, a certificate the CA did not
 * sign, one outside its validity (with this host's clock), or one issued
 * for the other role.
 */
export function checkTlsIdentity(input: TlsIdentityInput, options: TlsCheckOptions = {}): void {
  const { paths } = input;
  const now = options.now ?? Date.now();
  checkKeyMode(paths.key);
  let key: KeyObject;
  try {
    key = createPrivateKey(input.key);
  } catch (err) {
    throw refuse(`TLS key ${paths.key} is not a PEM private key: give the key file made with the certificate (tls.key)`, err);
  }
  const cert = new X509Certificate(input.cert);
  const ca = new X509Certificate(input.ca);
  if (!cert.checkPrivateKey(key)) {
    throw refuse(`TLS key ${paths.key} does not belong to certificate ${paths.cert} (key values mismatch): give the key issued with that certificate, or the certificate of that key`);
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw refuse(`certificate ${paths.cert} is not signed by the CA ${paths.ca} (its issuer is "${oneLine(cert.issuer)}", the CA is "${oneLine(ca.subject)}"): point tls.ca at the CA that issued it, or issue a new certificate with this CA`);
  }
  checkValidity("certificate", paths.cert, cert, now);
  checkValidity("CA certificate", paths.ca, ca, now);
  if (options.role) checkUsage(paths.cert, cert, options.role);
}

function checkKeyMode(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw refuse(`TLS key ${path} is readable by group or others (mode ${mode.toString(8).padStart(4, "0")}): chmod 600 ${path}`);
  }
}

function checkValidity(what: string, path: string, cert: X509Certificate, now: number): void {
  const from = new Date(cert.validFrom).getTime();
  const to = new Date(cert.validTo).getTime();
  const clock = new Date(now).toISOString();
  if (now < from) {
    throw refuse(`${what} ${path} is not valid yet: valid from ${new Date(from).toISOString()}, this host's clock says ${clock}: check the clock (timedatectl), or issue a new certificate`);
  }
  if (now > to) {
    throw refuse(`${what} ${path} expired on ${new Date(to).toISOString()} (this host's clock says ${clock}): renew it with secarc certs issue`);
  }
}

function checkUsage(path: string, cert: X509Certificate, role: TlsRole): void {
  const usage = cert.keyUsage; // Node names the extended key usages so; undefined when the extension is absent (any use).
  const wanted = ROLE_USAGE[role];
  if (usage === undefined || usage.includes(wanted.oid)) return;
  const has = usage.map((oid) => USAGE_NAMES[oid] ?? oid).join(", ") || "none";
  throw refuse(`certificate ${path} cannot serve as the ${role}'s: its extended key usage is ${has}, the ${role} needs ${wanted.name}; issue one with ${wanted.issue}`);
}

const oneLine = (dn: string) => dn.split("\n").join(", ");
