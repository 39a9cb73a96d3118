import { randomBytes, type webcrypto } from "node:crypto";
import { isIP } from "node:net";
import { SecarcError, describeError } from "../../common/errors.js";
import { isValidAgentId } from "../../common/ids.js";
import { crypto, x509 } from "./x509.js";

/**
 * The SecARC PKI: one CA, one server certificate for the controller, one
 * client certificate per agent. ECDSA P-256 with SHA-256, which Node's TLS,
 * grpc-js and Python's grpcio all accept. Pure functions over PEM strings;
 * files are the business of pki-files.ts.
 */

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 86_400_000;

/** Validity of an issued controller or agent certificate, in days. */
export const DEFAULT_CERTIFICATE_DAYS = 397;
/** Validity of the CA certificate, in days (10 years). */
export const DEFAULT_CA_DAYS = 3650;
/** Certificates start this long before their issue time, so that small clock skew between hosts is harmless. */
const BACKDATE_MS = 60 * 60_000;

/** A certificate and its private key, both PEM. */
export interface CertificatePem {
  /** The certificate, PEM ("CERTIFICATE"). */
  cert: string;
  /** The private key, PKCS#8 PEM ("PRIVATE KEY"). */
  key: string;
}

/** What an issued certificate says, for messages and tests. */
export interface IssuedCertificate extends CertificatePem {
  /** Serial number, lowercase hex. */
  serial: string;
  /** Subject common name. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

export interface ValidityOptions {
  /** Validity in days from `now`. Default: 397 (10 years for a CA). */
  days?: number;
  /** Issue time. Default: the current time. */
  now?: Date;
  /** Start of validity. Default: one hour before `now`. */
  notBefore?: Date;
}

export interface CreateCaOptions extends ValidityOptions {
  /** Subject common name. Default: "SecARC CA <random hex>", unique per CA. */
  commonName?: string;
}

export interface IssueControllerOptions extends ValidityOptions {
  /** DNS names and IP addresses agents use to reach the controller; the first becomes the CN. */
  hosts: string[];
}

export interface IssueAgentOptions extends ValidityOptions {
  /** The agent id (common/ids.ts isValidAgentId); it becomes the CN, the agent's identity. */
  name: string;
}

/** Creates a new self-signed CA (basicConstraints CA, keyCertSign + cRLSign). */
export async function createCa(options: CreateCaOptions = {}): Promise<IssuedCertificate> {
  const commonName = options.commonName ?? `SecARC CA ${randomBytes(4).toString("hex")}`;
  const { notBefore, notAfter } = validity(options, DEFAULT_CA_DAYS);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: dn(commonName),
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return describe(cert, await exportKey(keys.privateKey), commonName);
}

/** Issues the controller's TLS server certificate (serverAuth) for the given host names and IPs. */
export async function issueControllerCertificate(ca: CertificatePem, options: IssueControllerOptions): Promise<IssuedCertificate> {
  const hosts = options.hosts.map((h) => h.trim());
  if (hosts.length === 0) throw new SecarcError("input_invalid", "the controller certificate needs at least one host name or IP address");
  const names: x509.JsonGeneralName[] = [];
  for (const host of hosts) {
    if (isIP(host)) names.push({ type: "ip", value: host });
    else if (isDnsName(host)) names.push({ type: "dns", value: host.toLowerCase() });
    else throw new SecarcError("input_invalid", `"${host}" is neither a DNS name nor an IP address`);
  }
  return issue(ca, hosts[0]!, options, x509.ExtendedKeyUsage.serverAuth, [new x509.SubjectAlternativeNameExtension(names, false)]);
}

/** Issues an agent's TLS client certificate (clientAuth); its CN is the agent id. */
export async function issueAgentCertificate(ca: CertificatePem, options: IssueAgentOptions): Promise<IssuedCertificate> {
  if (!isValidAgentId(options.name)) {
    throw new SecarcError("input_invalid", `"${options.name}" is not a valid agent name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return issue(ca, options.name, options, x509.ExtendedKeyUsage.clientAuth, []);
}

async function issue(
  ca: CertificatePem,
  commonName: string,
  options: ValidityOptions,
  usage: x509.ExtendedKeyUsage,
  extra: x509.Extension[],
): Promise<IssuedCertificate> {
  const authority = await loadCa(ca);
  const { notBefore, notAfter } = validity(options, DEFAULT_CERTIFICATE_DAYS);
  if (notAfter > authority.cert.notAfter) {
    throw new SecarcError("input_invalid", `the certificate would outlive the CA (CA expires ${authority.cert.notAfter.toISOString()}); choose fewer days or create a new CA`);
  }
  const keys = await generateKeys();
  const cert = await signLeafCertificate(authority, { serialNumber: randomSerial(), commonName, notBefore, notAfter, publicKey: keys.publicKey, usage, extra });
  return describe(cert, await exportKey(keys.privateKey), commonName);
}

/** What a leaf certificate says; see signLeafCertificate. */
export interface LeafCertificateInput {
  serialNumber: string;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  publicKey: webcrypto.CryptoKey;
  usage: x509.ExtendedKeyUsage;
  extra?: x509.Extension[];
}

/** Signs a leaf certificate with the CA: not a CA itself, digitalSignature, one extended key usage, key identifiers. */
export async function signLeafCertificate(authority: LoadedCa, input: LeafCertificateInput): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: input.serialNumber,
    subject: dn(input.commonName),
    issuer: authority.cert.subjectName,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    publicKey: input.publicKey,
    signingKey: authority.key,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([input.usage], false),
      await x509.SubjectKeyIdentifierExtension.create(input.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(authority.cert.publicKey),
      ...(input.extra ?? []),
    ],
  });
}

/** A parsed CA: its certificate and its signing key. */
export interface LoadedCa {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
}

/** Parses a CA certificate and key, checking that the certificate is a CA and the key belongs to it. */
export async function loadCa(ca: CertificatePem): Promise<LoadedCa> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(ca.cert);
  } catch (err) {
    throw new SecarcError("tls_invalid", `the CA certificate is not a PEM certificate: ${describeError(err)}`, { cause: err });
  }
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new SecarcError("tls_invalid", `the CA certificate (${cert.subject}) is not a CA certificate`);
  let key: webcrypto.CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(ca.key), KEY_ALGORITHM, false, ["sign"]);
  } catch (err) {
    throw new SecarcError("tls_invalid", `the CA key is not an ECDSA P-256 PKCS#8 PEM key: ${describeError(err)}`, { cause: err });
  }
  const probe = new Uint8Array(randomBytes(32));
  const signature = await crypto.subtle.sign(SIGNING_ALGORITHM, key, probe);
  const publicKey = await cert.publicKey.export(KEY_ALGORITHM, ["verify"]);
  if (!(await crypto.subtle.verify(SIGNING_ALGORITHM, publicKey, signature, probe))) {
    throw new SecarcError("tls_invalid", "the CA key does not belong to the CA certificate");
  }
  return { cert, key };
}

/** True when `name` is a DNS host name (letters, digits, '-', dots between labels). */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

function validity(options: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = options.days ?? defaultDays;
  if (!Number.isInteger(days) || days < 1) throw new SecarcError("input_invalid", `validity must be a whole number of days, at least 1 (got ${days})`);
  const now = options.now ?? new Date();
  const notBefore = options.notBefore ?? new Date(now.getTime() - BACKDATE_MS);
  // Whole seconds: X.509 times have no fraction.
  const notAfter = new Date(Math.floor((now.getTime() + days * DAY_MS) / 1000) * 1000);
  return { notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000), notAfter };
}

/** A positive 128-bit serial (RFC 5280: positive, at most 20 octets, unpredictable). */
/** A positive 16-byte serial in hex (first byte 0x40-0x7f: no sign padding, always 16 bytes). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString("hex");
}

function dn(commonName: string): x509.JsonName {
  return [{ CN: [commonName] }];
}

/** An extractable ECDSA P-256 key pair. */
export async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
}

/** A private key as PKCS#8 PEM. */
export async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

function describe(cert: x509.X509Certificate, key: string, commonName: string): IssuedCertificate {
  return { cert: cert.toString("pem") + "\n", key: key + "\n", serial: cert.serialNumber.toLowerCase(), commonName, notBefore: cert.notBefore, notAfter: cert.notAfter };
}
