import { expect } from "chai";
import { fileURLToPath } from "node:url";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { detectorsConfigSchema } from "./config.js";
import { replayFile } from "./replay.js";
import { parseSshLogLine } from "./ssh-log-parser.js";
import { createSshSessionProcessor } from "./ssh-session.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/detectors/ssh-session/", import.meta.url));

function replay(name: string, sshSession: Record<string, unknown> = {}): Alert[] {
  const alerts: Alert[] = [];
  replayFile({
    detector: "ssh-session",
    path: `${FIXTURES}${name}`,
    config: detectorsConfigSchema.parse({ sshSession }),
    startTime: new Date(2026, 2, 20).getTime(),
    onAlert: (a) => alerts.push(a),
  });
  return alerts;
}

function session(alert: Alert) {
  if (alert.subject.case !== "sshSession") throw new Error(`unexpected subject ${alert.subject.case}`);
  return alert.subject.value;
}

describe("ssh-session detector over fixture logs", () => {
  it("raises an INFO alert per login with user, address, port, method and sshd PID, and resolves it when it closes", () => {
    const alerts = replay("accepted-and-closed-syslog.log");
    expect(alerts.map((a) => `${session(a).user}:${AlertState[a.state]}#${a.revision}`)).to.deep.equal([
      "alice:OPEN#1",
      "bob:OPEN#1",
      "alice:RESOLVED#2",
      "bob:RESOLVED#2",
    ]);
    const alice = session(alerts[0]!);
    expect({ ...alice, $typeName: undefined }).to.deep.include({ user: "alice", sourceIp: "192.0.2.10", sourcePort: 50022, authMethod: "publickey", sshdPid: 4242 });
    expect(alerts[0]!.severity).to.equal(Severity.INFO);
    expect(alerts[0]!.answers).to.deep.equal([Answer.ALLOW, Answer.CLOSE_SESSION, Answer.BLOCK_IP]);
    expect(alerts[0]!.detectedAt?.seconds).to.equal(BigInt(new Date(2026, 2, 14, 9, 26, 1).getTime() / 1000));
    expect(alerts[2]!.id).to.equal(alerts[0]!.id);
    const bob = session(alerts[1]!);
    expect([bob.sourceIp, bob.sourcePort, bob.authMethod, bob.sshdPid]).to.deep.equal(["2001:db8::beef", 61000, "password", 4250]);
    // bob's session closes by PID (pam's line has no address)
    expect(alerts[3]!.id).to.equal(alerts[1]!.id);
  });

  it("reads RFC 3339 timestamps with their offset", () => {
    const [alert] = replay("accepted-rfc3339.log");
    expect(session(alert!).authMethod).to.equal("keyboard-interactive/pam");
    expect(session(alert!).sshdPid).to.equal(777);
    expect(alert!.detectedAt?.seconds).to.equal(BigInt(Date.UTC(2026, 2, 14, 8, 26, 1) / 1000));
  });

  it("reads `sshd -E` logs (no prefix, CR LF) — no PID in the line, so 0 in a replay", () => {
    // refused unless the operator says the file is sshd's own (-E)
    expect(replay("sshd-E-without-prefix.log")).to.deep.equal([]);
    const alerts = replay("sshd-E-without-prefix.log", { rawNewlines: true });
    expect(alerts.map((a) => AlertState[a.state])).to.deep.equal(["OPEN", "RESOLVED"]);
    expect(session(alerts[0]!)).to.deep.include({ user: "root", sourceIp: "10.200.1.2", sourcePort: 53412, sshdPid: 0 });
  });

  it("takes the address from sshd's own fields, not from an injected user name", () => {
    const alerts = replay("injected-usernames.log");
    // eve's line has sshd's fields in two places with text after both: which one is sshd's cannot be told, so no alert
    expect(alerts).to.have.length(1);
    expect(session(alerts[0]!)).to.deep.include({ user: "mallory from 6.6.6.6 port 22 ssh2", sourceIp: "192.0.2.55", sourcePort: 41000 });
    // "Received disconnect from 6.6.6.6 port 22" matches no real session: nothing is resolved
    expect(alerts.every((a) => a.state === AlertState.OPEN)).to.equal(true);
  });
});

describe("sshd log parsing", () => {
  it("splits syslog prefixes and ignores other programs", () => {
    const ref = new Date(2026, 0, 5).getTime();
    expect(parseSshLogLine("Jan  4 10:00:00 h sshd[12]: hello", ref)).to.deep.equal({ message: "hello", time: new Date(2026, 0, 4, 10).getTime(), pid: 12 });
    expect(parseSshLogLine("Jan  4 10:00:00 h sudo[12]: hello", ref)).to.equal(undefined);
    // a December stamp read in January is last year's
    expect(parseSshLogLine("Dec 31 23:00:00 h sshd[1]: x", ref)?.time).to.equal(new Date(2025, 11, 31, 23).getTime());
    // a bare tag is no syslog prefix: read only from raw files, and unverified there
    expect(parseSshLogLine("sshd-session[99]: x", ref)).to.equal(undefined);
    expect(parseSshLogLine("sshd-session[99]: x", ref, { rawNewlines: true })).to.deep.equal({ message: "x", pid: 99, unverified: true });
    expect(parseSshLogLine("Failed password for root from 10.0.0.7 port 5 ssh2", ref)).to.equal(undefined);
    expect(parseSshLogLine("<38>1 2019-07-08T17:40:16.954167-04:00 host sshd 57915 - - Failed x", ref)).to.deep.equal({
      message: "Failed x",
      time: Date.parse("2019-07-08T17:40:16.954-04:00"),
      pid: 57915,
    });
    expect(parseSshLogLine("<38>1 2019-07-08T17:40:16Z host su 57915 - - x", ref)).to.equal(undefined);
  });

});

describe("ssh-session detector, live: a session whose sshd is gone without a log line", () => {
  function live(processes: Map<number, bigint>, withProbe = true, rawNewlines = false) {
    const alerts: Alert[] = [];
    let now = 1_000_000;
    const processor = createSshSessionProcessor(
      { maxSessions: 100 },
      { emit: (a) => alerts.push(a), now: () => now, rawNewlines, ...(withProbe ? { processStart: (pid: number) => processes.get(pid) } : {}) },
    );
    const feed = (line: string) => processor.line(line, 0, line.length);
    const tick = (ms: number) => {
      now += ms;
      processor.tick(now);
    };
    return { alerts, feed, tick };
  }
  const states = (alerts: Alert[]) => alerts.map((a) => `${session(a).user}:${AlertState[a.state]}#${a.revision}`);

  it("is resolved at the next tick when its sshd ends (killed: sshd logs nothing); others stay open", () => {
    const processes = new Map<number, bigint>([[4242, 100n], [4250, 200n]]);
    const { alerts, feed, tick } = live(processes);
    feed("Mar 14 09:26:01 web1 sshd[4242]: Accepted publickey for alice from 192.0.2.10 port 50022 ssh2");
    feed("Mar 14 09:26:05 web1 sshd[4250]: Accepted password for bob from 2001:db8::beef port 61000 ssh2");
    tick(1000);
    expect(states(alerts)).to.deep.equal(["alice:OPEN#1", "bob:OPEN#1"]);
    processes.delete(4242);
    tick(1000);
    expect(states(alerts)).to.deep.equal(["alice:OPEN#1", "bob:OPEN#1", "alice:RESOLVED#2"]);
    expect(alerts[2]!.id).to.equal(alerts[0]!.id);
    // A later close line for the same connection changes nothing.
    feed("Mar 14 09:27:30 web1 sshd[4299]: Received disconnect from 192.0.2.10 port 50022:11: disconnected by user");
    tick(1000);
    expect(alerts).to.have.length(3);
  });

  it("a PID reused by another process (other start time) ends the session too", () => {
    const processes = new Map<number, bigint>([[4242, 100n]]);
    const { alerts, feed, tick } = live(processes);
    feed("Mar 14 09:26:01 web1 sshd[4242]: Accepted publickey for alice from 192.0.2.10 port 50022 ssh2");
    processes.set(4242, 999n);
    tick(1000);
    expect(states(alerts)).to.deep.equal(["alice:OPEN#1", "alice:RESOLVED#2"]);
  });

  it("without a probe (replay of past logs) or without a known PID, sessions wait for their close line", () => {
    const none = live(new Map(), false);
    none.feed("Mar 14 09:26:01 web1 sshd[4242]: Accepted publickey for alice from 192.0.2.10 port 50022 ssh2");
    none.tick(5000);
    expect(states(none.alerts)).to.deep.equal(["alice:OPEN#1"]);
    // sshd -E lines carry no PID; none found: nothing to watch.
    const noPid = live(new Map(), true, true);
    noPid.feed("Accepted publickey for root from 10.200.1.2 port 53412 ssh2: ED25519 SHA256:abc");
    noPid.tick(5000);
    expect(states(noPid.alerts)).to.deep.equal(["root:OPEN#1"]);
  });
});
