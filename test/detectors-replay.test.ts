import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateNginxLog } from "../bench/nginx-log-gen.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(ROOT, "test/fixtures/detectors");

function secarc(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, "bin/secarc.js"), ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("secarc replay (the command, as operators run it)", function () {
  this.timeout(60_000);

  it("prints one JSON line per alert revision and a summary on stderr", async () => {
    const r = await secarc(["replay", "nginx-404", join(FIXTURES, "nginx-404/exactly-50-in-window.log")]);
    expect(r.code).to.equal(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.map((l) => [l.kind, l.severity, l.state, l.revision])).to.deep.equal([
      ["HTTP_404_BURST", "WARNING", "OPEN", 1],
      ["HTTP_404_BURST", "CRITICAL", "OPEN", 2],
      ["HTTP_404_BURST", "CRITICAL", "RESOLVED", 3],
    ]);
    expect(lines[1]!.subject).to.deep.include({ clientIp: "198.51.100.50", count: 50, firstSeen: "2026-03-14T09:26:00Z", lastSeen: "2026-03-14T09:26:59Z" });
    const summary = JSON.parse(r.stderr.trim().split("\n").pop()!) as Record<string, number>;
    expect(summary).to.deep.include({ lines: 60, malformed: 0, events: 50, alerts: 3 });
    expect(summary.linesPerSecond).to.be.a("number");
  });

  it("replays SSH logs: sessions and brute force", async () => {
    const s = await secarc(["replay", "ssh-session", join(FIXTURES, "ssh-session/accepted-and-closed-syslog.log")]);
    const sessions = s.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    expect(sessions.map((l) => `${l.subject.user} ${l.state}`)).to.deep.equal(["alice OPEN", "bob OPEN", "alice RESOLVED", "bob RESOLVED"]);
    const b = await secarc(["replay", "ssh-brute-force", join(FIXTURES, "ssh-brute-force/exactly-20-failures.log")]);
    const brute = b.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    expect(brute.map((l) => `${l.subject.sourceIp} ${l.subject.count} ${l.severity}`)).to.deep.equal([
      "203.0.113.20 5 WARNING",
      "203.0.113.20 20 CRITICAL",
      "203.0.113.20 20 CRITICAL",
    ]);
  });

  it("uses the thresholds of --config (an agent config's detectors section), validated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "secarc-replay-"));
    try {
      const good = join(dir, "agent.yaml");
      writeFileSync(good, "detectors:\n  nginx404:\n    warning: 10\n    critical: 19\n");
      const r = await secarc(["replay", "nginx-404", join(FIXTURES, "nginx-404/exactly-19-in-window.log"), "--config", good]);
      expect(r.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { severity: string }).severity)).to.deep.equal(["WARNING", "CRITICAL", "CRITICAL"]);
      const bad = join(dir, "bad.yaml");
      writeFileSync(bad, "detectors:\n  nginx404:\n    warning: 60\n");
      const e = await secarc(["replay", "nginx-404", join(FIXTURES, "nginx-404/exactly-19-in-window.log"), "-c", bad]);
      expect(e.code).to.equal(1);
      expect(e.stderr).to.contain("nginx404.warning: warning (60) must be below critical (50)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown detector and a missing file", async () => {
    const u = await secarc(["replay", "cpu-sustained", "x.log"]);
    expect(u.code).to.equal(2);
    expect(u.stderr).to.contain('unknown detector "cpu-sustained"');
    const m = await secarc(["replay", "nginx-404", "/nonexistent/access.log"]);
    expect(m.code).to.equal(1);
    expect(m.stderr).to.contain("cannot open /nonexistent/access.log");
  });

  it("finds exactly the generator's ground truth in a generated log (100,000 lines)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "secarc-replay-gen-"));
    try {
      const file = join(dir, "access.log");
      const truth = generateNginxLog(file, { lines: 100_000, seed: 7 });
      const r = await secarc(["replay", "nginx-404", file]);
      expect(r.code).to.equal(0);
      const byId = new Map<string, { ip: string; severities: string[]; firstSeen: number }>();
      for (const line of r.stdout.trim().split("\n")) {
        const l = JSON.parse(line) as { id: string; severity: string; state: string; subject: { clientIp: string; firstSeen: string } };
        const a = byId.get(l.id) ?? { ip: l.subject.clientIp, severities: [], firstSeen: Date.parse(l.subject.firstSeen) };
        if (l.state === "OPEN") a.severities.push(l.severity);
        byId.set(l.id, a);
      }
      const key = (a: { ip: string; severities: string[]; firstSeen: number }) => `${a.ip} ${a.firstSeen} ${a.severities.join(">")}`;
      expect([...byId.values()].map(key).sort()).to.deep.equal(truth.expected.map(key).sort());
      expect(truth.expected.length).to.be.greaterThan(100);
      const summary = JSON.parse(r.stderr.trim().split("\n").pop()!) as { lines: number; malformed: number };
      expect(summary.lines).to.equal(truth.lines);
      expect(summary.malformed).to.equal(truth.malformedLines);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
