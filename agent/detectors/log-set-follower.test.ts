import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import { parseConfig } from "../../common/config.js";
import { detectorsConfigSchema } from "./config.js";
import type { LogDetector } from "./log-detector.js";
import { describeSet, globToRegExp } from "./log-set-follower.js";
import { createDetectors } from "./registry.js";

const line = (ip: string, i: number) => `${ip} - - [01/Dec/2026:10:00:${String(i % 60).padStart(2, "0")} +0000] "GET /x${i} HTTP/1.1" 404 153 "-" "-"\n`;

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("web logs by glob: files found at start and later, each named in its alerts, source state", function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-glob-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("globs match file names only", () => {
    const re = globToRegExp("*access.log");
    expect(["access.log", "shop-access.log"].every((n) => re.test(n))).to.equal(true);
    expect(["access.log.1", "error.log", "a/access.log"].some((n) => re.test(n))).to.equal(false);
    expect(globToRegExp("site[12]-?.log").test("site2-a.log")).to.equal(true);
    expect(globToRegExp("[!x]*.log").test("x.log")).to.equal(false);
  });

  it("follows every match, picks up a new virtual host's log while running, and names the file in each alert", async () => {
    const logs = join(dir, "nginx");
    mkdirSync(logs);
    writeFileSync(join(logs, "a-access.log"), "");
    writeFileSync(join(logs, "error.log"), "");
    const config = parseConfig(
      detectorsConfigSchema,
      { sshSession: { enabled: false }, sshBruteForce: { enabled: false }, cpuSustained: { enabled: false }, nginx404: { paths: [join(logs, "*access.log")], warning: 3, critical: 10 }, pollInterval: "100ms" },
      "test",
    );
    const [detector] = createDetectors(config, { logger: silentLogger(), now: Date.now }) as LogDetector[];
    const alerts: Alert[] = [];
    await detector!.start({ emit: (a) => alerts.push(a), onFailure: (err) => { throw err; }, logger: silentLogger(), now: Date.now });
    try {
      expect(detector!.source()).to.deep.include({ kind: "file", state: "following", detail: join(logs, "a-access.log") });
      appendFileSync(join(logs, "a-access.log"), [0, 1, 2].map((i) => line("203.0.113.1", i)).join(""));
      writeFileSync(join(logs, "b-access.log"), [0, 1, 2].map((i) => line("203.0.113.2", i)).join(""));
      const ips = () => new Set(alerts.map((a) => (a.subject.case === "httpErrors" ? a.subject.value.clientIp : "")));
      await until(() => ips().has("203.0.113.1") && ips().has("203.0.113.2"), "an alert from each file");
      const files = new Map(alerts.map((a) => (a.subject.case === "httpErrors" ? [a.subject.value.clientIp, a.subject.value.logFile] : ["", ""])));
      expect(files.get("203.0.113.1")).to.equal(join(logs, "a-access.log"));
      expect(files.get("203.0.113.2"), "a file created while running is read from its start").to.equal(join(logs, "b-access.log"));
      expect(detector!.source().detail).to.equal(`${join(logs, "a-access.log")}, ${join(logs, "b-access.log")}`);
    } finally {
      await detector!.stop();
    }
  });

  it("says what is missing: a path that does not exist, a glob that matches nothing; unreadable files", () => {
    expect(describeSet(["/var/log/nginx/access.log"], new Map())).to.deep.equal({ state: "waiting", detail: "/var/log/nginx/access.log does not exist" });
    expect(describeSet(["/var/log/nginx/*access.log"], new Map())).to.deep.equal({ state: "waiting", detail: "no file matches /var/log/nginx/*access.log" });
    const states = new Map([["/a.log", { state: "unreadable" as const, detail: "/a.log: EACCES" }]]);
    expect(describeSet(["/a.log"], states)).to.deep.equal({ state: "unreadable", detail: "/a.log: EACCES" });
  });
});
