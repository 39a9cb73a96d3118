import { expect } from "chai";
import { spawn } from "node:child_process";
import { silentLogger } from "../../common/log.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { detectorsConfigSchema } from "./config.js";
import { parseProcStat, parseProcessStat, type CpuReading } from "./cpu-sampler.js";
import { createCpuEvaluator, createCpuSustainedDetector } from "./cpu-sustained.js";

const settings = { interval: 30_000, sustainSamples: 2, warning: 50, critical: 90 };

/** Feeds usage percents, one sample per 30 s, and returns the revisions. */
function drive(percents: number[], s = settings): Alert[] {
  const alerts: Alert[] = [];
  const evaluator = createCpuEvaluator(s, (a) => alerts.push(a));
  const top = [{ pid: 4321, name: "miner", cpuPercent: 187.5, startTicks: 123456n, user: "www-data" }];
  percents.forEach((percent, i) => evaluator.observe({ percent, top } satisfies CpuReading, 1_000_000 + i * 30_000));
  return alerts;
}

const life = (alerts: Alert[]) => alerts.map((a) => `${Severity[a.severity]}/${AlertState[a.state]}#${a.revision}`);

function cpu(alert: Alert) {
  if (alert.subject.case !== "cpu") throw new Error("not a CPU alert");
  return alert.subject.value;
}

describe("cpu-sustained decisions (controlled samples)", () => {
  it("ignores a one-sample spike", () => {
    expect(drive([10, 95, 10, 99, 20])).to.deep.equal([]);
  });

  it("alerts when usage stays at or above the warning threshold for the sustain window (50 inclusive)", () => {
    const alerts = drive([10, 50, 50]);
    expect(life(alerts)).to.deep.equal(["WARNING/OPEN#1"]);
    const s = cpu(alerts[0]!);
    expect(s.percent).to.equal(50);
    expect(s.threshold).to.equal(50);
    expect(Number(s.sustained?.seconds)).to.equal(60);
    expect(s.top[0]).to.deep.include({ pid: 4321, name: "miner", cpuPercent: 187.5, startTicks: 123456n, user: "www-data" });
    expect(alerts[0]!.answers).to.deep.equal([Answer.IGNORE, Answer.REBOOT, Answer.SHUTDOWN, Answer.KILL_PROCESS]);
    expect(drive([10, 49.9, 49.9, 49.9])).to.deep.equal([]);
  });

  it("does not repeat while usage stays high, escalates to critical in the same alert, resolves below warning", () => {
    const alerts = drive([60, 70, 80, 75, 90, 95, 99, 92, 40, 45]);
    expect(life(alerts)).to.deep.equal(["WARNING/OPEN#1", "CRITICAL/OPEN#2", "CRITICAL/RESOLVED#3"]);
    expect(new Set(alerts.map((a) => a.id)).size).to.equal(1);
    expect(cpu(alerts[1]!).percent).to.equal(92.5);
    expect(cpu(alerts[1]!).threshold).to.equal(90);
    expect(alerts[2]!.answers).to.deep.equal([]);
  });

  it("a sustained window entirely at or above critical raises critical at once; a single critical spike does not escalate", () => {
    expect(life(drive([90, 90, 91]))).to.deep.equal(["CRITICAL/OPEN#1"]);
    expect(life(drive([60, 60, 95, 60, 60]))).to.deep.equal(["WARNING/OPEN#1"]);
  });

  it("a new rise after resolution is a new alert", () => {
    const alerts = drive([80, 80, 10, 80, 80]);
    expect(life(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2", "WARNING/OPEN#1"]);
    expect(alerts[0]!.id).to.not.equal(alerts[2]!.id);
  });

  it("honours sustainSamples", () => {
    expect(drive([80, 80], { ...settings, sustainSamples: 3 })).to.deep.equal([]);
    expect(life(drive([80, 80, 80], { ...settings, sustainSamples: 3 }))).to.deep.equal(["WARNING/OPEN#1"]);
  });
});

describe("/proc parsing", () => {
  it("counts every non-idle mode as busy and iowait as idle", () => {
    expect(parseProcStat("cpu  100 20 30 400 50 6 7 8 9 0\ncpu0 1 2 3\n")).to.deep.equal({ busy: 171, total: 621 });
  });

  it("reads a process name with spaces and parentheses, its CPU ticks and start time", () => {
    const stat = "42 (evil) name) S 1 42 42 0 -1 4194560 100 0 0 0 1500 250 0 0 20 0 1 0 987654 1000 100 18446744073709551615";
    expect(parseProcessStat(stat)).to.deep.equal({ pid: 42, name: "evil) name", ticks: 1750, startTicks: 987654n });
  });
});

describe("cpu-sustained on this machine (real /proc, real busy loop)", function () {
  this.timeout(20_000);

  it("a busy-loop child process raises an alert naming it among the top processes", async () => {
    // A bounded busy loop (3 s) in a child; low thresholds so that one busy core of several counts.
    const child = spawn(process.execPath, ["-e", "const end = Date.now() + 3000; while (Date.now() < end) {}"], { stdio: "ignore" });
    const config = detectorsConfigSchema.parse({ cpuSustained: { interval: "1s", sustainSamples: 2, warning: 5, critical: 99 } });
    const alerts: Alert[] = [];
    const detector = createCpuSustainedDetector(config.cpuSustained, { topProcesses: 10 });
    const failures: unknown[] = [];
    try {
      await detector.start({ emit: (a) => alerts.push(a), onFailure: (e) => failures.push(e), logger: silentLogger(), now: Date.now });
      const deadline = Date.now() + 8000;
      while (alerts.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await detector.stop();
      child.kill();
    }
    expect(failures).to.deep.equal([]);
    expect(alerts.length).to.be.greaterThan(0);
    const first = cpu(alerts[0]!);
    expect(first.percent).to.be.at.least(5);
    expect(first.top.map((p) => p.pid)).to.include(child.pid);
    const busy = first.top.find((p) => p.pid === child.pid)!;
    expect(busy.cpuPercent).to.be.greaterThan(10); // a full core when the machine is idle; less when shared
    expect(busy.startTicks > 0n).to.equal(true);
    expect(busy.user).to.equal("root");
  });
});
