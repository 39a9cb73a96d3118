import { expect } from "chai";
import { fileURLToPath } from "node:url";
import { AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { detectorsConfigSchema } from "./config.js";
import { replayFile, type ReplayStats } from "./replay.js";
import { createNginx404Processor } from "./nginx-404.js";
import { createLineSplitter } from "./line-splitter.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/detectors/nginx-404/", import.meta.url));

function replay(name: string, overrides: Record<string, unknown> = {}): { alerts: Alert[]; stats: ReplayStats } {
  const config = detectorsConfigSchema.parse({ nginx404: overrides });
  const alerts: Alert[] = [];
  const stats = replayFile({ detector: "nginx-404", path: `${FIXTURES}${name}`, config, onAlert: (a) => alerts.push(a) });
  return { alerts, stats };
}

function http(alert: Alert) {
  if (alert.subject.case !== "httpErrors") throw new Error(`unexpected subject ${alert.subject.case}`);
  return alert.subject.value;
}

/** [severity, state] of each revision, e.g. ["WARNING/OPEN", "WARNING/RESOLVED"]. */
function lifeOf(alerts: Alert[]): string[] {
  return alerts.map((a) => `${Severity[a.severity]}/${AlertState[a.state]}#${a.revision}`);
}

describe("nginx-404 detector over fixture logs", () => {
  it("19 404s inside one window raise nothing", () => {
    const { alerts, stats } = replay("exactly-19-in-window.log");
    expect(alerts).to.deep.equal([]);
    expect(stats.events).to.equal(19);
    expect(stats.malformed).to.equal(0);
  });

  it("exactly 20 404s inside one window raise one warning, resolved when the window empties", () => {
    const { alerts } = replay("exactly-20-in-window.log");
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    expect(new Set(alerts.map((a) => a.id)).size).to.equal(1);
    const first = http(alerts[0]!);
    expect(first.clientIp).to.equal("198.51.100.20");
    expect(first.count).to.equal(20);
    expect(first.status).to.equal(404);
    expect(Number(first.window?.seconds)).to.equal(60);
    expect(first.recentPaths).to.deep.equal(["/probe-15.php", "/probe-16.php", "/probe-17.php", "/probe-18.php", "/probe-19.php"]);
    expect(first.firstSeen?.seconds).to.equal(BigInt(Date.UTC(2026, 2, 14, 9, 26, 0) / 1000));
    expect(first.lastSeen?.seconds).to.equal(BigInt(Date.UTC(2026, 2, 14, 9, 26, 59) / 1000));
    expect(alerts[0]!.answers).to.deep.equal([Answer.IGNORE, Answer.BLOCK_IP, Answer.ALLOW]);
    expect(alerts[1]!.answers).to.deep.equal([]);
  });

  it("49 stay a warning; exactly 50 escalate the same alert to critical", () => {
    expect(lifeOf(replay("exactly-49-in-window.log").alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    const { alerts } = replay("exactly-50-in-window.log");
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "CRITICAL/OPEN#2", "CRITICAL/RESOLVED#3"]);
    expect(new Set(alerts.map((a) => a.id)).size).to.equal(1);
    expect(http(alerts[1]!).count).to.equal(50);
    expect(http(alerts[2]!).count).to.equal(50);
  });

  it("20 404s spread over exactly 60 s never have 20 inside the window", () => {
    const { alerts, stats } = replay("twenty-spread-over-exactly-60s.log");
    expect(stats.events).to.equal(20);
    expect(alerts).to.deep.equal([]);
  });

  it("a burst straddling a minute boundary is one burst (sliding, not per-minute buckets)", () => {
    const { alerts } = replay("burst-straddling-minute-boundary.log");
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    expect(http(alerts[0]!).clientIp).to.equal("198.51.100.77");
  });

  it("counts an IPv6 client under its address", () => {
    const { alerts } = replay("ipv6-client.log");
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "CRITICAL/OPEN#2", "CRITICAL/RESOLVED#3"]);
    expect(http(alerts[0]!).clientIp).to.equal("2001:db8:85a3::8a2e:370:7334");
  });

  it("counts the status field only, not 404 in the path, size, referer or user agent", () => {
    const { alerts, stats } = replay("status-404-elsewhere.log");
    expect(stats.lines).to.equal(120);
    expect(stats.events).to.equal(0);
    expect(stats.malformed).to.equal(0);
    expect(alerts).to.deep.equal([]);
  });

  it("counts and skips garbage lines, cuts 100 KB lines, and still sees the burst", () => {
    const { alerts, stats } = replay("garbage-and-100kb-lines.log");
    expect(stats.malformed).to.equal(5);
    expect(stats.oversized).to.equal(2);
    expect(stats.events).to.equal(21); // 20 from the client, 1 from the 100 KB 404 line
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    expect(http(alerts[0]!).clientIp).to.equal("198.51.100.66");
  });

  it("two bursts of one client more than a window apart are two alerts", () => {
    const { alerts } = replay("two-bursts-same-client.log");
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2", "WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    expect(alerts[0]!.id).to.not.equal(alerts[2]!.id);
    expect(alerts[1]!.updatedAt?.seconds).to.equal(BigInt(Date.UTC(2026, 2, 14, 9, 26, 20) / 1000 + 60));
  });

  it("reads the time zone offset: the same instants in +0000 and +0200 count together", () => {
    const { alerts } = replay("mixed-time-zones.log");
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    const s = http(alerts[0]!);
    expect(s.count).to.equal(20);
    expect(Number(s.lastSeen!.seconds) - Number(s.firstSeen!.seconds)).to.equal(19);
  });

  it("honours configured thresholds and window", () => {
    expect(lifeOf(replay("exactly-19-in-window.log", { warning: 10, critical: 19 }).alerts)).to.deep.equal([
      "WARNING/OPEN#1",
      "CRITICAL/OPEN#2",
      "CRITICAL/RESOLVED#3",
    ]);
    expect(replay("exactly-20-in-window.log", { window: "30s" }).alerts).to.deep.equal([]);
  });

  it("reports recent paths as UTF-8 text, cut to 200 characters", () => {
    const alerts: Alert[] = [];
    const config = detectorsConfigSchema.parse({ nginx404: { warning: 2, critical: 3, recentPaths: 3 } });
    const processor = createNginx404Processor(config.nginx404, { emit: (a) => alerts.push(a), now: () => 0 });
    const splitter = createLineSplitter((text, s, e) => processor.line(text, s, e));
    const t = "14/Mar/2026:09:26:00 +0000";
    for (const path of ["/caf\u00e9/men\u00fc", `/${"x".repeat(300)}`, "/plain"]) {
      splitter.push(Buffer.from(`2001:db8::42 - - [${t}] "GET ${path} HTTP/1.1" 404 1 "-" "-"\n`, "utf8"));
    }
    expect(alerts.map((a) => http(a).recentPaths)).to.deep.equal([
      ["/caf\u00e9/men\u00fc", `/${"x".repeat(199)}`],
      ["/caf\u00e9/men\u00fc", `/${"x".repeat(199)}`, "/plain"],
    ]);
  });

  it("resolves on the clock's tick when no more lines come (live mode)", () => {
    const alerts: Alert[] = [];
    const config = detectorsConfigSchema.parse(undefined);
    const processor = createNginx404Processor(config.nginx404, { emit: (a) => alerts.push(a), now: () => 0 });
    const t = "14/Mar/2026:09:26:00 +0000";
    const lines = Array.from({ length: 20 }, (_, i) => `192.0.2.1 - - [${t}] "GET /a${i} HTTP/1.1" 404 1 "-" "-"\n`).join("");
    const splitter = createLineSplitter((text, s, e) => processor.line(text, s, e));
    splitter.push(Buffer.from(lines));
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1"]);
    const at = Date.UTC(2026, 2, 14, 9, 26, 0);
    processor.tick(at + 59_999);
    expect(alerts).to.have.length(1);
    processor.tick(at + 60_000);
    expect(lifeOf(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
  });
});
