import { expect } from "chai";
import { fileURLToPath } from "node:url";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { detectorsConfigSchema } from "./config.js";
import { replayFile } from "./replay.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/detectors/ssh-brute-force/", import.meta.url));

function replay(name: string, overrides: Record<string, unknown> = {}): Alert[] {
  const alerts: Alert[] = [];
  replayFile({
    detector: "ssh-brute-force",
    path: `${FIXTURES}${name}`,
    config: detectorsConfigSchema.parse({ sshBruteForce: overrides }),
    startTime: new Date(2026, 2, 20).getTime(),
    onAlert: (a) => alerts.push(a),
  });
  return alerts;
}

function failures(alert: Alert) {
  if (alert.subject.case !== "sshFailures") throw new Error(`unexpected subject ${alert.subject.case}`);
  return alert.subject.value;
}

const life = (alerts: Alert[]) => alerts.map((a) => `${Severity[a.severity]}/${AlertState[a.state]}#${a.revision}`);

describe("ssh-brute-force detector over fixture logs", () => {
  it("4 failures in a window raise nothing", () => {
    expect(replay("exactly-4-failures.log")).to.deep.equal([]);
  });

  it("exactly 5 failures raise a warning with Block IP offered, resolved after the window", () => {
    const alerts = replay("exactly-5-failures.log");
    expect(life(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    const s = failures(alerts[0]!);
    expect([s.sourceIp, s.count, s.usernames]).to.deep.equal(["203.0.113.5", 5, ["admin"]]);
    expect(alerts[0]!.answers).to.deep.equal([Answer.BLOCK_IP, Answer.IGNORE, Answer.ALLOW]);
  });

  it("exactly 20 failures escalate the same alert to critical", () => {
    const alerts = replay("exactly-20-failures.log");
    expect(life(alerts)).to.deep.equal(["WARNING/OPEN#1", "CRITICAL/OPEN#2", "CRITICAL/RESOLVED#3"]);
    expect(failures(alerts[1]!).count).to.equal(20);
    expect(new Set(alerts.map((a) => a.id)).size).to.equal(1);
  });

  it("5 failures spread over exactly 60 s are never 5 inside the window", () => {
    expect(replay("five-spread-over-exactly-60s.log")).to.deep.equal([]);
  });

  it("counts attempts, not lines: Invalid user + Failed + Connection closed of one attempt count once", () => {
    const alerts = replay("invalid-user-lines-per-attempt.log");
    expect(life(alerts)).to.deep.equal(["WARNING/OPEN#1", "WARNING/RESOLVED#2"]);
    expect(failures(alerts[0]!).count).to.equal(5);
    expect(failures(alerts[0]!).usernames).to.deep.equal(["oracle", "root"]);
    // with warning at 6 the same log raises nothing
    expect(replay("invalid-user-lines-per-attempt.log", { warning: 6 })).to.deep.equal([]);
  });

  it("counts against sshd's address, never the one in an injected user name", () => {
    const alerts = replay("injected-usernames.log");
    expect(alerts.map((a) => failures(a).sourceIp)).to.deep.equal(["203.0.113.99", "203.0.113.99"]);
    expect(failures(alerts[0]!).count).to.equal(5);
  });

  it("counts IPv6 sources", () => {
    const alerts = replay("ipv6-source.log");
    expect(life(alerts)).to.deep.equal(["WARNING/OPEN#1", "CRITICAL/OPEN#2", "CRITICAL/RESOLVED#3"]);
    expect(failures(alerts[0]!).sourceIp).to.equal("2001:db8::bad");
  });

  it("reads `sshd -E` logs without prefix", () => {
    expect(replay("sshd-E-without-prefix.log")).to.deep.equal([]);
    const alerts = replay("sshd-E-without-prefix.log", { rawNewlines: true });
    expect(failures(alerts[0]!)).to.deep.include({ sourceIp: "10.200.1.2", count: 5 });
  });
});
