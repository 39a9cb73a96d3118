import "reflect-metadata";
import { X509Certificate, createHash, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { SecarcError, describeError } from "../../common/errors.js";

x509.cryptoProvider.set(webcrypto);

/**
 * The certificates the controller's CRL file revokes, checked the way the
 * TLS layer checks them: a certificate is revoked when a CRL signed by the
 * CA that issued it lists its serial. The link uses it twice — as the TLS
 * context's `crl` (one entry per CRL, which is how Node checks each CA's
 * clients against that CA's list) and to refuse a revoked certificate's
 * Hello and end its live stream.
 */
export interface RevocationList {
  /** One PEM block per CRL in the file, for the TLS context's `crl` option. */
  readonly pems: readonly string[];
  /** Every revoked serial, normalised (lowercase hex, no leading zeros). */
  readonly serials: readonly string[];
  /** SHA-256 of the file's bytes: an unchanged file is not parsed again. */
  readonly hash: string;
  /** Whether a CRL of the certificate's issuer lists its serial. */
  isRevoked(cert: X509Certificate): boolean;
}

/** A serial as the store and the CRL compare it: lowercase hex without leading zeros. */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, "");
}

/** SHA-256 of a CRL file's bytes, hex. */
export function crlHash(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const CRL_BLOCK = /-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g;
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

interface CaEntry {
  node: X509Certificate;
  peculiar: x509.X509Certificate;
}

interface OneCrl {
  ca: X509Certificate;
  serials: Set<string>;
}

/**
 * Parses a CRL file (one or more "X509 CRL" PEM blocks) and checks each CRL
 * before the TLS layer would use it: signed by a CA in `caPem`, already
 * valid, not past its nextUpdate (OpenSSL refuses every client of a CA whose
 * CRL is stale or not yet valid). Throws a SecarcError "tls_invalid" saying
 * what is wrong (retryable when the CRL is only not valid yet); nothing is
 * half-applied.
 */
export async function parseRevocationList(bytes: Buffer | string, caPem: Buffer | string, now: number): Promise<RevocationList> {
  const text = typeof bytes === "string" ? bytes : bytes.toString("utf8");
  const pems = text.match(CRL_BLOCK) ?? [];
  if (pems.length === 0) throw new SecarcError("tls_invalid", "no PEM block labelled X509 CRL in the file");
  if (text.replace(CRL_BLOCK, "").includes("-----BEGIN")) throw new SecarcError("tls_invalid", "an incomplete or foreign PEM block beside the CRLs");
  const cas = caCertificates(caPem);
  const crls: OneCrl[] = [];
  for (const [index, pem] of pems.entries()) {
    const which = pems.length > 1 ? `CRL ${index + 1} of ${pems.length}` : "the CRL";
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(pem);
    } catch (err) {
      throw new SecarcError("tls_invalid", `${which} cannot be decoded: ${describeError(err)}`, { cause: err });
    }
    let issuer: CaEntry | undefined;
    for (const ca of cas) {
      if (await crl.verify({ publicKey: ca.peculiar }).catch(() => false)) {
        issuer = ca;
        break;
      }
    }
    if (!issuer) throw new SecarcError("tls_invalid", `${which} (issuer ${crl.issuer}) is not signed by the CA in tls.ca`);
    // @peculiar/x509 loses the entries of a CRL without nextUpdate; every CRL secarc certs makes has one.
    if (crl.nextUpdate === undefined) throw new SecarcError("tls_invalid", `${which} has no nextUpdate; make it with secarc certs revoke`);
    if (crl.nextUpdate.getTime() < now) throw new SecarcError("tls_invalid", `${which} expired at ${crl.nextUpdate.toISOString()} (its nextUpdate); TLS would refuse every agent of its CA`);
    if (crl.thisUpdate.getTime() > now) {
      // Retryable: it becomes usable once this host's clock gets there.
      throw new SecarcError("tls_invalid", `${which} is valid only from ${crl.thisUpdate.toISOString()}; check the clocks of the CA machine and this host`, { retryable: true });
    }
    crls.push({ ca: issuer.node, serials: new Set(crl.entries.map((entry) => normalizeSerial(entry.serialNumber))) });
  }
  const serials = [...new Set(crls.flatMap((crl) => [...crl.serials]))].sort();
  return {
    pems,
    serials,
    hash: crlHash(bytes),
    isRevoked(cert) {
      const serial = normalizeSerial(cert.serialNumber);
      return crls.some((crl) => crl.serials.has(serial) && cert.checkIssued(crl.ca) && cert.verify(crl.ca.publicKey));
    },
  };
}

function caCertificates(caPem: Buffer | string): CaEntry[] {
  const blocks = (typeof caPem === "string" ? caPem : caPem.toString("utf8")).match(CERT_BLOCK) ?? [];
  const cas: CaEntry[] = [];
  for (const block of blocks) {
    try {
      cas.push({ node: new X509Certificate(block), peculiar: new x509.X509Certificate(block) });
    } catch (err) {
      throw new SecarcError("tls_invalid", `a certificate in tls.ca cannot be read: ${describeError(err)}`, { cause: err });
    }
  }
  if (cas.length === 0) throw new SecarcError("tls_invalid", "tls.ca holds no PEM certificate");
  return cas;
}
