import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const units = ["secarc-controller.service", "secarc-agent.service"];

describe("deploy/ systemd units", function () {
  this.timeout(30_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-units-"));
    // The units start /usr/bin/secarc (the package's launcher); point them at
    // this checkout's command so that verify can check the executable.
    for (const unit of units) {
      const text = readFileSync(join(root, "deploy", unit), "utf8");
      expect(text).to.contain("ExecStart=/usr/bin/secarc ");
      writeFileSync(join(dir, unit), text.replaceAll("/usr/bin/secarc", join(root, "bin/secarc.js")));
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("systemd-analyze verify accepts both units", async () => {
    // --man=no: the man page (Documentation=man:secarc(1)) is installed by the package, not the checkout;
    // test/package-deb.test.ts verifies the installed units with it.
    const { stderr } = await run("systemd-analyze", ["verify", "--man=no", ...units.map((unit) => join(dir, unit))]);
    expect(stderr.trim()).to.equal("");
  });

  it("systemd-analyze verify does reject a broken unit", async () => {
    const broken = join(dir, "secarc-broken.service");
    writeFileSync(broken, "[Service]\nExecStart=relative/path --x\nRestart=sometimes\n");
    const failure = await run("systemd-analyze", ["verify", broken]).then(() => undefined, (err: { stderr: string }) => err);
    expect(failure, "verify must fail on a broken unit").to.not.equal(undefined);
  });

  it("the agent unit keeps the capabilities its responders need", () => {
    const text = readFileSync(join(root, "deploy/secarc-agent.service"), "utf8");
    for (const cap of ["CAP_NET_ADMIN", "CAP_KILL", "CAP_SYS_PTRACE", "CAP_SYS_BOOT"]) expect(text).to.contain(cap);
    expect(text).to.match(/^Restart=always$/m);
  });
});
