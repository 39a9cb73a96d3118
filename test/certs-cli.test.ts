import { expect } from "chai";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createCertsCommand } from "../cli/certs-command.js";
import { main } from "../cli/secarc.js";

const run = promisify(execFile);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe("secarc certs", function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-certs-cli-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function certs(...args: string[]): Promise<string> {
    const out: string[] = [];
    const code = await createCertsCommand({ out: (t) => void out.push(t) }).run(args);
    expect(code).to.equal(0);
    return out.join("");
  }

  it("init, issue controller, issue agent, show and revoke lay out the documented files", async function () {
    expect(await certs("init", "--dir", dir)).to.contain("ca.pem");
    expect(await certs("show", join(dir, "crl.pem"))).to.contain("revoked:    0");
    expect(await certs("issue", "controller", "--host", "ctl.example.org", "--host", "192.0.2.7", "--dir", dir, "--days", "90")).to.contain("controller.pem");
    expect(await certs("issue", "agent", "web-1", "-d", dir)).to.contain("agents/web-1.pem");

    const ca = new X509Certificate(readFileSync(join(dir, "ca.pem")));
    const controller = new X509Certificate(readFileSync(join(dir, "controller.pem")));
    const agent = new X509Certificate(readFileSync(join(dir, "agents", "web-1.pem")));
    expect(controller.verify(ca.publicKey) && agent.verify(ca.publicKey)).to.equal(true);
    expect(controller.subjectAltName).to.equal("DNS:ctl.example.org, IP Address:192.0.2.7");
    expect(agent.subject).to.equal("CN=web-1");
    const days = (new Date(controller.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).to.be.within(89.9, 90.1);
    for (const key of ["ca-key.pem", "controller-key.pem", join("agents", "web-1-key.pem")]) {
      expect(statSync(join(dir, key)).mode & 0o777, key).to.equal(0o600);
    }

    const shown = await certs("show", join(dir, "controller.pem"));
    expect(shown).to.contain("subject:    CN=ctl.example.org");
    expect(shown).to.contain("names:      DNS:ctl.example.org, IP Address:192.0.2.7");
    expect(shown).to.match(/\((89|90) days left\)/);
    expect(shown).to.not.contain("warning");
    await certs("issue", "controller", "--host", "ctl.example.org", "--dir", dir, "--days", "10", "--force");
    expect(await certs("show", join(dir, "controller.pem"))).to.match(/warning: +expires in (9|10) days/);
  });

  it("revoke writes crl.pem listing the serial, and a second revoke keeps both", async function () {
    await certs("init", "--dir", dir);
    await certs("issue", "agent", "a", "--dir", dir);
    await certs("issue", "agent", "b", "--dir", dir);
    const serialOf = (name: string) => new X509Certificate(readFileSync(join(dir, "agents", `${name}.pem`))).serialNumber.toLowerCase();
    expect(await certs("revoke", join(dir, "agents", "a.pem"), "--dir", dir)).to.contain(`revoked CN=a (serial ${serialOf("a")})`);
    await certs("revoke", join(dir, "agents", "b.pem"), "--dir", dir);
    expect(await certs("revoke", join(dir, "agents", "b.pem"), "--dir", dir)).to.contain("already revoked");
    const shown = await certs("show", join(dir, "crl.pem"));
    expect(shown).to.contain("revoked:    2");
    expect(shown).to.contain(serialOf("a"));
    expect(shown).to.contain(serialOf("b"));
  });

  it("refuses to revoke a certificate from another CA", async function () {
    const other = mkdtempSync(join(tmpdir(), "secarc-certs-other-"));
    try {
      await certs("init", "--dir", dir);
      await certs("init", "--dir", other);
      await certs("issue", "agent", "x", "--dir", other);
      const crlBefore = readFileSync(join(dir, "crl.pem"), "utf8");
      const c = capture();
      expect(await main(["certs", "revoke", join(other, "agents", "x.pem"), "--dir", dir], c.io)).to.equal(1);
      expect(c.err.join("")).to.contain("was not issued by the CA");
      expect(readFileSync(join(dir, "crl.pem"), "utf8")).to.equal(crlBefore);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("refuses to overwrite without --force (exit 1) and replaces with it", async function () {
    await certs("init", "--dir", dir);
    await certs("issue", "agent", "web-1", "--dir", dir);
    const before = readFileSync(join(dir, "agents", "web-1.pem"), "utf8");
    const c = capture();
    expect(await main(["certs", "issue", "agent", "web-1", "--dir", dir], c.io)).to.equal(1);
    expect(c.err.join("")).to.contain("already exist");
    expect(readFileSync(join(dir, "agents", "web-1.pem"), "utf8")).to.equal(before);
    await certs("issue", "agent", "web-1", "--dir", dir, "--force");
    expect(readFileSync(join(dir, "agents", "web-1.pem"), "utf8")).to.not.equal(before);
    const c2 = capture();
    expect(await main(["certs", "init", "--dir", dir], c2.io)).to.equal(1);
    expect(c2.err.join("")).to.contain("ca-key.pem");
  });

  it("says to run secarc certs init first when the CA is missing (exit 1)", async function () {
    const c = capture();
    expect(await main(["certs", "issue", "agent", "web-1", "--dir", dir], c.io)).to.equal(1);
    expect(c.err.join("")).to.contain("run secarc certs init first");
  });

  const usageCases: [string[], RegExp][] = [
    [[], /missing subcommand/],
    [["frob"], /unknown subcommand "frob"/],
    [["issue"], /controller or agent/],
    [["issue", "server"], /unknown kind "server"/],
    [["issue", "controller"], /at least one --host/],
    [["issue", "controller", "--host", "bad host"], /neither a DNS name nor an IP/],
    [["issue", "agent"], /missing NAME/],
    [["issue", "agent", "bad/name"], /not a valid agent name/],
    [["issue", "agent", "a", "b"], /unexpected argument "b"/],
    [["issue", "agent", "a", "--host", "x"], /--host is not an option of issue agent/],
    [["issue", "agent", "a", "--days", "ten"], /--days must be a whole number/],
    [["issue", "agent", "a", "--days", "0"], /--days must be a whole number/],
    [["init", "--bogus"], /bogus/],
    [["init", "--dir"], /--dir/],
    [["show"], /missing FILE/],
    [["revoke"], /missing FILE/],
  ];
  for (const [args, message] of usageCases) {
    it(`exits 2 for: secarc certs ${args.join(" ")}`, async function () {
      const c = capture();
      expect(await main(["certs", ...args], c.io)).to.equal(2);
      expect(c.err.join("")).to.match(message);
      expect(c.out).to.deep.equal([]);
    });
  }

  it("exits 2 from the real binary for a usage error, and writes files from it", async function () {
    this.timeout(30_000);
    const bin = join(import.meta.dirname, "..", "bin", "secarc.js");
    const err = await run(process.execPath, [bin, "certs", "issue", "agent", "no good"]).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).to.equal(2);
    expect((err as { stderr: string }).stderr).to.contain("not a valid agent name");
    const { stdout } = await run(process.execPath, [bin, "certs", "init", "--dir", dir]);
    expect(stdout).to.contain("ca-key.pem (private key, mode 0600)");
    expect(statSync(join(dir, "ca-key.pem")).mode & 0o777).to.equal(0o600);
  });
});
