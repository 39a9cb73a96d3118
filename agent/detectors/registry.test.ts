import { expect } from "chai";
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../common/log.js";
import { AlertKind, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { detectorsConfigSchema } from "./config.js";
import type { Detector } from "./detector.js";
import { createJournaldFollower, recordFromJournalJson, journalctlArgs } from "./journald-follower.js";
import { DETECTOR_FOR_KIND, createDetectors } from "./registry.js";

async function until(check: () => boolean, what: string, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function nginxLines(ip: string, count: number, at = new Date()): string {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  const t = `${p(at.getUTCDate())}/${months[at.getUTCMonth()]}/${at.getUTCFullYear()}:${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())} +0000`;
  return Array.from({ length: count }, (_, i) => `${ip} - - [${t}] "GET /nope-${i} HTTP/1.1" 404 10 "-" "x"\n`).join("");
}

describe("detector registry", () => {
  it("builds the enabled detectors, by name, each advertising its alert kind", () => {
    const deps = { logger: silentLogger(), now: Date.now };
    const all = createDetectors(detectorsConfigSchema.parse({}), deps);
    expect(all.map((d) => d.name)).to.deep.equal(["ssh-session", "ssh-brute-force", "cpu-sustained", "nginx-404"]);
    for (const d of all) expect(DETECTOR_FOR_KIND[d.kinds[0] as keyof typeof DETECTOR_FOR_KIND]).to.equal(d.name);
    const some = createDetectors(detectorsConfigSchema.parse({ sshSession: { enabled: false }, cpuSustained: { enabled: false } }), deps);
    expect(some.map((d) => d.name)).to.deep.equal(["ssh-brute-force", "nginx-404"]);
  });

  it("journald: builds journalctl's argument vector and reads its JSON entries", () => {
    expect(journalctlArgs(["ssh", "sshd"])).to.deep.equal(["--follow", "--output=json", "--lines=0", "--no-pager", "--unit", "ssh", "--unit", "sshd"]);
    expect(journalctlArgs(["ssh"], "/run/log/journal")).to.deep.equal(["--follow", "--output=json", "--lines=0", "--no-pager", "--directory=/run/log/journal", "--unit", "ssh"]);
    expect(() => detectorsConfigSchema.parse({ sshSession: { journalDirectory: "run/log" } })).to.throw(/absolute/);
    const entry = JSON.stringify({ MESSAGE: "Accepted publickey for a from 10.0.0.1 port 2 ssh2", _PID: "321", __REALTIME_TIMESTAMP: "1773480361123456" });
    expect(recordFromJournalJson(entry)).to.deep.equal({ message: "Accepted publickey for a from 10.0.0.1 port 2 ssh2", pid: 321, time: 1773480361123 });
    expect(recordFromJournalJson(JSON.stringify({ MESSAGE: [104, 105], _PID: "1" }))).to.deep.equal({ message: "hi", pid: 1 });
    expect(recordFromJournalJson("not json")).to.equal(undefined);
    // a message sent with the tag "sshd" by another program (logger -t sshd) is not sshd's
    expect(recordFromJournalJson(JSON.stringify({ MESSAGE: "Accepted password for x from 10.0.0.1 port 2 ssh2", SYSLOG_IDENTIFIER: "sshd", _COMM: "logger", _PID: "5" }))).to.equal(undefined);
    expect(recordFromJournalJson(JSON.stringify({ MESSAGE: "m", _COMM: "sshd-session", _PID: "5" }))).to.deep.equal({ message: "m", pid: 5 });
  });

  it("journald: a journalctl that cannot start or that exits is reported as a retryable failure", async () => {
    const errors: { code: string; retryable: boolean; message: string }[] = [];
    const missing = createJournaldFollower({ units: ["ssh"], command: "/nonexistent/journalctl", onRecord: () => {}, onError: (e) => errors.push(e) });
    await missing.start();
    const exits = createJournaldFollower({ units: ["ssh"], command: "false", onRecord: () => {}, onError: (e) => errors.push(e) });
    await exits.start();
    await until(() => errors.length >= 2, "two failures");
    await missing.stop();
    await exits.stop();
    expect(errors.map((e) => [e.code, e.retryable])).to.deep.equal([
      ["unavailable", true],
      ["unavailable", true],
    ]);
    expect(errors.map((e) => e.message).join("\n")).to.match(/cannot run \/nonexistent\/journalctl/).and.match(/false exited \(1\)/);
  });

  describe("nginx-404 running live on a real file", () => {
    let dir: string;
    let detector: Detector | undefined;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "secarc-nginx-live-"));
    });
    afterEach(async () => {
      await detector?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("alerts as lines arrive, across rotation and truncation of the log", async () => {
      const log = join(dir, "access.log");
      writeFileSync(log, nginxLines("192.0.2.1", 100)); // history: not counted
      const config = detectorsConfigSchema.parse({
        sshSession: { enabled: false },
        sshBruteForce: { enabled: false },
        cpuSustained: { enabled: false },
        nginx404: { accessLog: log },
        pollInterval: "1s",
      });
      const alerts: Alert[] = [];
      [detector] = createDetectors(config, { logger: silentLogger(), now: Date.now });
      const failures: unknown[] = [];
      await detector!.start({ emit: (a) => alerts.push(a), onFailure: (e) => failures.push(e), logger: silentLogger(), now: Date.now });
      const ipOf = (a: Alert) => (a.subject.case === "httpErrors" ? a.subject.value.clientIp : "");

      appendFileSync(log, nginxLines("192.0.2.2", 20));
      await until(() => alerts.length === 1, "alert for 192.0.2.2");
      expect(ipOf(alerts[0]!)).to.equal("192.0.2.2");
      expect(alerts[0]!.kind).to.equal(AlertKind.HTTP_404_BURST);

      renameSync(log, `${log}.1`);
      writeFileSync(log, nginxLines("2001:db8::3", 50));
      await until(() => alerts.length === 3, "warning and critical for 2001:db8::3");
      expect(alerts.slice(1).map((a) => [ipOf(a), Severity[a.severity]])).to.deep.equal([
        ["2001:db8::3", "WARNING"],
        ["2001:db8::3", "CRITICAL"],
      ]);

      truncateSync(log, 0);
      appendFileSync(log, nginxLines("192.0.2.4", 20));
      await until(() => alerts.length === 4, "alert for 192.0.2.4 after truncation");
      expect(ipOf(alerts[3]!)).to.equal("192.0.2.4");
      expect(alerts.every((a) => a.state === AlertState.OPEN)).to.equal(true);
      expect(failures).to.deep.equal([]);
    });
  });
});
