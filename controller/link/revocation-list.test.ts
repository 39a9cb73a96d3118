import { X509Certificate } from "node:crypto";
import { expect } from "chai";
import { createCrl } from "../../cli/certs/crl.js";
import { createCa, issueAgentCertificate, loadCa, type IssuedCertificate } from "../../cli/certs/pki.js";
import { x509 } from "../../cli/certs/x509.js";
import { isSecarcError } from "../../common/errors.js";
import { normalizeSerial, parseRevocationList } from "./revocation-list.js";


async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(isSecarcError(err, "tls_invalid"), String(err)).to.equal(true);
    return (err as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("controller revocation list (CRL file)", function () {
  this.timeout(20_000);
  let ca: IssuedCertificate;
  let next: IssuedCertificate;
  let lost: X509Certificate;
  let kept: X509Certificate;
  let lostOfNext: X509Certificate;
  let keptOfNext: X509Certificate;
  const entry = (cert: X509Certificate) => ({ serial: cert.serialNumber.toLowerCase(), date: new Date(Date.now() - 1_000) });

  before(async () => {
    ca = await createCa({ commonName: "Revocation test CA" });
    next = await createCa({ commonName: "Revocation test CA, next" });
    const issue = async (authority: IssuedCertificate, name: string) => new X509Certificate((await issueAgentCertificate(authority, { name })).cert);
    [lost, kept, lostOfNext, keptOfNext] = await Promise.all([issue(ca, "lost-1"), issue(ca, "kept-1"), issue(next, "lost-2"), issue(next, "kept-2")]);
  });

  it("reads one CRL: the serials it lists are revoked, the others not", async () => {
    const list = await parseRevocationList(await createCrl(ca, [entry(lost)]), ca.cert, Date.now());
    expect(list.pems).to.have.length(1);
    expect(list.serials).to.deep.equal([normalizeSerial(lost.serialNumber)]);
    expect(list.isRevoked(lost)).to.equal(true);
    expect(list.isRevoked(kept)).to.equal(false);
    expect(list.hash).to.match(/^[0-9a-f]{64}$/);
  });

  it("splits a file of several CRLs (a CA change) and checks each certificate against its own CA's CRL", async () => {
    const file = (await createCrl(ca, [entry(lost)])) + (await createCrl(next, [entry(lostOfNext)]));
    const list = await parseRevocationList(file, ca.cert + next.cert, Date.now());
    expect(list.pems).to.have.length(2);
    expect(list.pems.every((pem) => pem.startsWith("-----BEGIN X509 CRL-----") && pem.endsWith("-----END X509 CRL-----"))).to.equal(true);
    expect([list.isRevoked(lost), list.isRevoked(kept), list.isRevoked(lostOfNext), list.isRevoked(keptOfNext)]).to.deep.equal([true, false, true, false]);
    expect(list.serials).to.have.members([normalizeSerial(lost.serialNumber), normalizeSerial(lostOfNext.serialNumber)]);
  });

  it("a serial listed by one CA's CRL does not revoke the same serial issued by another CA", async () => {
    // The next CA's CRL names the first CA's certificate's serial: not its certificate, so not revoked.
    const list = await parseRevocationList(await createCrl(next, [entry(lost)]), ca.cert + next.cert, Date.now());
    expect(list.serials).to.deep.equal([normalizeSerial(lost.serialNumber)]);
    expect(list.isRevoked(lost)).to.equal(false);
  });

  it("refuses what TLS could not use, saying why", async () => {
    expect(await refusal(parseRevocationList("", ca.cert, Date.now()))).to.match(/no PEM block labelled X509 CRL/);
    expect(await refusal(parseRevocationList("garbage\n", ca.cert, Date.now()))).to.match(/no PEM block/);
    const good = await createCrl(ca, [entry(lost)]);
    expect(await refusal(parseRevocationList(good.slice(0, good.length / 2), ca.cert, Date.now()))).to.match(/no PEM block/);
    expect(await refusal(parseRevocationList(good + good.slice(0, 60), ca.cert, Date.now()))).to.match(/incomplete or foreign PEM block/);
    const mangled = good.replace(/^(-----BEGIN X509 CRL-----\n)(.{10})/, (_m, head: string) => `${head}AAAAAAAAAA`);
    expect(await refusal(parseRevocationList(mangled, ca.cert, Date.now()))).to.match(/cannot be decoded|not signed/);
    expect(await refusal(parseRevocationList(await createCrl(next, []), ca.cert, Date.now()))).to.match(/not signed by the CA in tls\.ca/);
    expect(await refusal(parseRevocationList(good, "no certificate here", Date.now()))).to.match(/tls\.ca holds no PEM certificate/);
  });

  it("refuses a CRL past its nextUpdate or not valid yet (TLS would refuse every agent)", async () => {
    const keys = await loadCa(ca);
    const make = async (thisUpdate: Date, nextUpdate: Date) => {
      const crl = await x509.X509CrlGenerator.create({
        issuer: keys.cert.subjectName,
        thisUpdate,
        nextUpdate,
        signingKey: keys.key,
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
        entries: [],
      });
      return x509.PemConverter.encode(crl.rawData, "X509 CRL");
    };
    const now = Date.now();
    expect(await refusal(parseRevocationList(await make(new Date(now - 7_200_000), new Date(now - 3_600_000)), ca.cert, now))).to.match(/expired at .* \(its nextUpdate\)/);
    const early = parseRevocationList(await make(new Date(now + 3_600_000), new Date(now + 7_200_000)), ca.cert, now);
    expect(await refusal(early)).to.match(/valid only from/);
    expect(await early.catch((err: unknown) => isSecarcError(err) && err.retryable)).to.equal(true);
  });

  it("normalises serials: case and leading zeros do not matter", () => {
    expect(normalizeSerial("00AB01")).to.equal("ab01");
    expect(normalizeSerial("ab01")).to.equal("ab01");
    expect(normalizeSerial("0")).to.equal("0");
  });
});
