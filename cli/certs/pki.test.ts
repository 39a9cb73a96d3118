import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSecarcError } from "../../common/errors.js";
import { createCrl, readCrl, revokeCertificateFile, revokeTarget } from "./crl.js";
import { readCaFiles, writePemFiles } from "./pki-files.js";
import { createCa, issueAgentCertificate, issueControllerCertificate, loadCa, type IssuedCertificate } from "./pki.js";
import { summarizeCertificate } from "./show.js";
import { x509 } from "./x509.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const DAY = 86_400_000;

async function rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("certs: PKI", function () {
  let ca: IssuedCertificate;
  let foreign: IssuedCertificate;
  before(async function () {
    ca = await createCa();
    foreign = await createCa();
  });

  it("creates a self-signed CA valid for 10 years, allowed to sign certificates and CRLs", function () {
    const cert = new X509Certificate(ca.cert);
    expect(cert.ca).to.equal(true);
    expect(cert.checkIssued(cert)).to.equal(true);
    expect(cert.verify(cert.publicKey)).to.equal(true);
    expect(cert.subject).to.match(/^CN=SecARC CA [0-9a-f]{8}$/);
    const years = (new Date(cert.validTo).getTime() - Date.now()) / (365.25 * DAY);
    expect(years).to.be.within(9.9, 10.1);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).to.equal("prime256v1");
    expect(ca.key).to.match(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it("gives each CA its own name and key", function () {
    expect(new X509Certificate(foreign.cert).subject).to.not.equal(new X509Certificate(ca.cert).subject);
    expect(new X509Certificate(ca.cert).verify(new X509Certificate(foreign.cert).publicKey)).to.equal(false);
  });

  it("issues a controller server certificate with DNS and IP SANs, CN = first host, signed by the CA", async function () {
    const issued = await issueControllerCertificate(ca, { hosts: ["controller.example.org", "10.1.2.3", "::1", "localhost"] });
    const cert = new X509Certificate(issued.cert);
    const authority = new X509Certificate(ca.cert);
    expect(cert.verify(authority.publicKey)).to.equal(true);
    expect(cert.checkIssued(authority)).to.equal(true);
    expect(cert.ca).to.equal(false);
    expect(cert.subject).to.equal("CN=controller.example.org");
    expect(cert.subjectAltName).to.equal("DNS:controller.example.org, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1, DNS:localhost");
    expect(cert.checkHost("controller.example.org")).to.equal("controller.example.org");
    expect(cert.checkIP("10.1.2.3")).to.equal("10.1.2.3");
    expect(cert.checkIP("10.1.2.4")).to.equal(undefined);
    expect(cert.keyUsage).to.deep.equal([SERVER_AUTH]);
    expect(cert.verify(new X509Certificate(foreign.cert).publicKey)).to.equal(false);
    expect(cert.checkIssued(new X509Certificate(foreign.cert))).to.equal(false);
  });

  it("issues an agent client certificate whose CN is the agent name", async function () {
    const issued = await issueAgentCertificate(ca, { name: "web-01.prod" });
    const cert = new X509Certificate(issued.cert);
    expect(cert.verify(new X509Certificate(ca.cert).publicKey)).to.equal(true);
    expect(cert.subject).to.equal("CN=web-01.prod");
    expect(cert.keyUsage).to.deep.equal([CLIENT_AUTH]);
    expect(issued.commonName).to.equal("web-01.prod");
  });

  it("refuses agent names that are not agent ids and hosts that are neither DNS names nor IPs", async function () {
    for (const name of ["", "-x", "a b", "a/b", "x".repeat(65), "CN=x,O=y"]) {
      const err = await rejects(issueAgentCertificate(ca, { name }));
      expect(isSecarcError(err, "input_invalid"), name).to.equal(true);
    }
    for (const hosts of [[], ["bad host"], ["-x.example"], ["a..b"]]) {
      const err = await rejects(issueControllerCertificate(ca, { hosts }));
      expect(isSecarcError(err, "input_invalid"), hosts.join()).to.equal(true);
    }
  });

  it("defaults to 397 days, honours --days, backdates by an hour, and never outlives the CA", async function () {
    const now = new Date("2030-01-01T00:00:00Z");
    const dflt = await issueAgentCertificate(ca, { name: "a", now });
    expect(dflt.notAfter.toISOString()).to.equal("2031-02-02T00:00:00.000Z");
    expect(dflt.notBefore.toISOString()).to.equal("2029-12-31T23:00:00.000Z");
    const short = await issueAgentCertificate(ca, { name: "a", now, days: 7 });
    expect(short.notAfter.toISOString()).to.equal("2030-01-08T00:00:00.000Z");
    expect(new X509Certificate(short.cert).validTo).to.equal("Jan  8 00:00:00 2030 GMT");
    const err = await rejects(issueAgentCertificate(ca, { name: "a", days: 3700 }));
    expect(err.message).to.contain("outlive the CA");
    expect((await rejects(issueAgentCertificate(ca, { name: "a", days: 0 }))).message).to.contain("at least 1");
  });

  it("gives every certificate a random positive serial", async function () {
    const serials = new Set<string>();
    for (let i = 0; i < 10; i++) serials.add((await issueAgentCertificate(ca, { name: "a" })).serial);
    expect(serials.size).to.equal(10);
    for (const serial of serials) {
      expect(serial).to.match(/^[0-9a-f]{32}$/);
      expect(parseInt(serial[0]!, 16)).to.be.within(4, 7); // top bit clear: a positive INTEGER of 16 octets
    }
  });

  it("refuses a CA key that does not belong to the CA certificate", async function () {
    const err = await rejects(loadCa({ cert: ca.cert, key: foreign.key }));
    expect(err.message).to.contain("does not belong");
    const leaf = await issueAgentCertificate(ca, { name: "leaf" });
    expect((await rejects(loadCa(leaf))).message).to.contain("not a CA");
  });

  it("signs a CRL that lists revoked serials and refuses a CRL from another CA", async function () {
    const a = await issueAgentCertificate(ca, { name: "a" });
    const b = await issueAgentCertificate(ca, { name: "b" });
    const date = new Date("2030-05-05T05:05:05.500Z");
    const pem = await createCrl(ca, [{ serial: a.serial, date }, { serial: b.serial, date }]);
    expect(pem).to.match(/^-----BEGIN X509 CRL-----\n/);
    expect(await readCrl(ca, pem)).to.deep.equal([
      { serial: a.serial, date: new Date("2030-05-05T05:05:05Z") },
      { serial: b.serial, date: new Date("2030-05-05T05:05:05Z") },
    ]);
    expect(new x509.X509Crl(pem).nextUpdate?.getTime()).to.equal(new Date(new X509Certificate(ca.cert).validTo).getTime());
    const err = await rejects(readCrl(foreign, pem));
    expect(err.message).to.contain("not signed by this CA");
  });
});

describe("certs: files", function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-certs-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("creates private files with mode 0600 and others with 0644, whatever the umask", function () {
    const old = process.umask(0);
    try {
      writePemFiles([
        { path: join(dir, "k.pem"), content: "key", private: true },
        { path: join(dir, "sub", "c.pem"), content: "cert", private: false },
      ]);
    } finally {
      process.umask(old);
    }
    expect(statSync(join(dir, "k.pem")).mode & 0o777).to.equal(0o600);
    expect(statSync(join(dir, "sub", "c.pem")).mode & 0o777).to.equal(0o644);
    expect(statSync(join(dir, "sub")).mode & 0o777).to.equal(0o700);
    expect(readFileSync(join(dir, "k.pem"), "utf8")).to.equal("key");
  });

  it("refuses to overwrite without force and writes none of the files; with force replaces them as 0600", function () {
    const key = join(dir, "k.pem");
    const cert = join(dir, "c.pem");
    writeFileSync(key, "old");
    chmodSync(key, 0o644);
    let caught: unknown;
    try {
      writePemFiles([
        { path: cert, content: "new cert", private: false },
        { path: key, content: "new key", private: true },
      ]);
    } catch (err) {
      caught = err;
    }
    expect(isSecarcError(caught, "refused")).to.equal(true);
    expect((caught as Error).message).to.contain("--force");
    expect(readFileSync(key, "utf8")).to.equal("old");
    expect(() => statSync(cert)).to.throw();
    writePemFiles([{ path: key, content: "new key", private: true }], { force: true });
    expect(readFileSync(key, "utf8")).to.equal("new key");
    expect(statSync(key).mode & 0o777).to.equal(0o600);
  });

  it("says to run secarc certs init when the CA is missing", function () {
    expect(() => readCaFiles(dir)).to.throw(/run secarc certs init first/);
  });
});

describe("certs: show", function () {
  it("reports days left and warns within 30 days of expiry, after expiry and before validity", async function () {
    const ca = await createCa();
    const issued = await issueAgentCertificate(ca, { name: "web-1", now: new Date("2030-01-01T00:00:00Z"), days: 100 });
    const at = (iso: string) => summarizeCertificate(issued.cert, new Date(iso));
    expect(at("2030-01-11T00:00:00Z")).to.include({ daysLeft: 90, role: "agent (client)", subject: "CN=web-1", serial: issued.serial });
    expect(at("2030-01-11T00:00:00Z").warning).to.equal(undefined);
    expect(at("2030-03-12T00:00:00Z").warning).to.equal(undefined); // 30 days left
    expect(at("2030-03-13T00:00:00Z").warning).to.equal("expires in 29 days");
    expect(at("2030-04-11T00:00:01Z").warning).to.match(/^expired on 2030-04-11/);
    expect(at("2029-12-31T00:00:00Z").warning).to.match(/^not valid before/);
    expect(summarizeCertificate(ca.cert).role).to.equal("CA");
  });
});

describe("certs: revoke by name or file", function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-revoke-name-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("revokes agent NAME's certificate from DIR/agents, or the certificate in a FILE", async function () {
    const ca = await createCa();
    writePemFiles([
      { path: join(dir, "ca.pem"), content: ca.cert, private: false },
      { path: join(dir, "ca-key.pem"), content: ca.key, private: true },
    ]);
    const issued = await issueAgentCertificate(ca, { name: "web-1" });
    writePemFiles([{ path: join(dir, "agents", "web-1.pem"), content: issued.cert, private: false }]);
    const elsewhere = join(dir, "elsewhere.pem");
    writeFileSync(elsewhere, (await issueAgentCertificate(ca, { name: "web-2" })).cert);

    expect(revokeTarget(dir, "web-1")).to.equal(join(dir, "agents", "web-1.pem"));
    expect(revokeTarget(dir, elsewhere)).to.equal(elsewhere);
    const err = (() => {
      try {
        revokeTarget(dir, "web-3");
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(isSecarcError(err, "input_invalid")).to.equal(true);
    expect((err as Error).message).to.equal(`no certificate file web-3 and no agent certificate ${join(dir, "agents", "web-3.pem")}`);

    const result = await revokeCertificateFile(dir, revokeTarget(dir, "web-1"));
    expect(result.serial).to.equal(new X509Certificate(issued.cert).serialNumber.toLowerCase());
    expect((await readCrl(readCaFiles(dir), readFileSync(result.crlPath, "utf8"))).map((e) => e.serial)).to.deep.equal([result.serial]);
  });
});
