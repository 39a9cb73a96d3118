// System test (issue 11, finding 1): lines forged inside a user name never
// make an alert name another address. Real sshd (Debian openssh-server) in a
// network namespace writes its log with `sshd -E FILE`, which writes user
// names raw, newlines included; an attacker's client (ssh-raw-client.py:
// the stock ssh client refuses such names) sends user names that hold whole
// sshd lines. A real agent follows the file (rawNewlines: true) and sends
// its alerts over mutual TLS to a real controller, whose store is read.
//
// The same attack against sshd logging to a real journald (syslog(3) to
// /dev/log) is detectors-ssh-forgery-journald.test.ts. Here the journal's
// other shapes are replayed from what this sshd really wrote: sshd's
// stderr under systemd (`sshd -e`, _TRANSPORT=stdout: one entry per line,
// forgeable) and syslog messages with raw newlines inside MESSAGE (as a
// PAM module's syslog(3) call would send), parsed by recordFromJournalJson.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { AlertKind, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { recordFromJournalJson } from "../agent/detectors/journald-follower.js";
import { createSshBruteForceProcessor } from "../agent/detectors/ssh-brute-force.js";
import { createSshSessionProcessor } from "../agent/detectors/ssh-session.js";
import { createSshdEvidence } from "../agent/detectors/sshd-evidence.js";
import { startLinkedAgent, type LinkedAgent } from "./support/detectors-link.js";
import { createLab, type Lab } from "./support/netns.js";
import { rawSshClient, startSshd, type SshdServer } from "./support/sshd.js";
import { FORGED, FORGED_FAILURE, FORGED_LOGIN, HOSTILE_USERS, addressesOf, unescapeUser, until } from "./support/ssh-forgery.js";

/**
 * The messages sshd logged, as its syslog path sends them: the -E file ends
 * each message with CR LF, and the hostile user names (which hold CR LF
 * too) are put back whole — escaped as sshd's log.c does for syslog
 * (VIS_NL: "\\n"), or raw (as a PAM module's syslog(3) call would send them).
 */
function sshdMessages(log: string, vis: boolean): string[] {
  const users = HOSTILE_USERS.map(unescapeUser);
  let text = log;
  users.forEach((user, i) => {
    text = text.split(user).join(`\u0000${i}\u0000`);
  });
  const put = (user: string) => (vis ? user.replaceAll("\r", "\\r").replaceAll("\n", "\\n") : user);
  return text
    .split("\r\n")
    .filter((m) => m !== "")
    .map((m) => m.replace(/\u0000(\d+)\u0000/g, (_, i: string) => put(users[Number(i)]!)));
}

describe("Forged sshd lines inside user names (real sshd -E in a namespace)", function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let sshd: SshdServer | undefined;
  let linked: LinkedAgent | undefined;
  let log = "";

  before(async () => {
    lab = await createLab({ clients: 2 });
    // PAM as on Debian: each failed password holds the connection ~2 s (pam_unix's delay)
    sshd = await startSshd(lab.server.ns, { settings: { UsePAM: "yes" } });
    const source = { source: "file", authLog: sshd.authLog, rawNewlines: true };
    linked = await startLinkedAgent({
      sshSession: source,
      sshBruteForce: source,
      cpuSustained: { enabled: false },
      nginx404: { enabled: false },
    });
    const attacker = lab.clients[0]!;
    // 3 connections × 2 tries for each hostile name: 6 forged failures each, past the warning at 5
    await Promise.all(
      HOSTILE_USERS.map(async (user) => {
        const runs = await Promise.all([0, 1, 2].map(() => rawSshClient(attacker.ns, lab!.server.ipv4, sshd!.port, ["password", user, "wrong", "2"])));
        expect(runs.map((r) => r.replies.join(","))).to.deep.equal(["failure,failure", "failure,failure", "failure,failure"]);
      }),
    );
    // Then a real brute force from the other client, after the forgeries in the log: once its alert
    // is in the store, the agent has read every line before it.
    const other = lab.clients[1]!;
    await Promise.all([0, 1].map(() => rawSshClient(other.ns, lab!.server.ipv4, sshd!.port, ["password", sshd!.user, "wrong", "3"])));
    await until(async () => (await linked!.stored(AlertKind.SSH_BRUTE_FORCE)).length > 0, "the real brute force's alert", 10_000);
    await new Promise((r) => setTimeout(r, 500));
    log = readFileSync(sshd.authLog, "utf8");
  });

  after(async () => {
    await linked?.close();
    await sshd?.stop();
    await lab?.cleanup();
  });

  it("sshd -E really writes the forged lines as lines of their own", () => {
    const lines = log.split(/\r?\n/);
    expect(lines.filter((l) => l === FORGED_FAILURE || l.endsWith(`sshd[1]: ${FORGED_FAILURE}`)).length).to.be.at.least(4 * 6);
    expect(lines.filter((l) => l === FORGED_LOGIN).length).to.be.at.least(6);
  });

  it("-E file: no alert names a forged address; the real brute force is seen with sshd's address", async () => {
    const brute = (await linked!.stored(AlertKind.SSH_BRUTE_FORCE)).map((r) => r.alert);
    const sessions = (await linked!.stored(AlertKind.SSH_SESSION)).map((r) => r.alert);
    expect(sessions).to.deep.equal([]);
    expect(addressesOf(brute)).to.deep.equal([lab!.clients[1]!.ipv4]);
    for (const forged of FORGED) expect(JSON.stringify(brute.map((a) => a.summary))).to.not.include(forged);
  });

  it("journald, sshd's stderr (_TRANSPORT=stdout, one entry per line): forged entries are refused by /proc evidence", () => {
    const entries = log
      .split("\n")
      .map((line) => line.replace(/\r$/, ""))
      .filter((line) => line !== "")
      .map((line, i) => JSON.stringify({ MESSAGE: line, _PID: String(sshd!.pid), _COMM: "sshd", _TRANSPORT: "stdout", __REALTIME_TIMESTAMP: String((1_790_000_000_000 + i) * 1000) }));
    const alerts = replayJournal(entries);
    expect(addressesOf(alerts).filter((ip) => FORGED.includes(ip))).to.deep.equal([]);
  });

  for (const vis of [true, false]) {
    it(`journald, sshd's syslog messages (one entry per message, newlines ${vis ? "escaped as sshd's syslog path does" : "raw inside MESSAGE"}): the attacker is counted, never a forged address`, () => {
      const entries = sshdMessages(log, vis).map((m, i) => {
        // one PID per connection, as sshd has: the connection's port stands for it
        const port = /port (\d+)(?!.*port \d)/s.exec(m)?.[1];
        return JSON.stringify({ MESSAGE: m, _PID: String(port ?? 1000), _COMM: "sshd", _TRANSPORT: "syslog", __REALTIME_TIMESTAMP: String((1_790_000_000_000 + i) * 1000) });
      });
      const alerts = replayJournal(entries);
      expect(addressesOf(alerts).filter((ip) => FORGED.includes(ip))).to.deep.equal([]);
      expect(addressesOf(alerts)).to.include(lab!.clients[0]!.ipv4);
    });
  }

  /** Journal entries through both SSH processors, live deps (real /proc evidence), warning at 2. */
  function replayJournal(entries: string[]): Alert[] {
    const alerts: Alert[] = [];
    let now = 1_790_000_000_000;
    const deps = { emit: (a: Alert) => alerts.push(a), now: () => now, timeFromLines: true, evidence: createSshdEvidence({ now: () => now }) };
    const brute = createSshBruteForceProcessor({ window: 60_000, warning: 2, critical: 3, maxSources: 100 }, deps);
    const session = createSshSessionProcessor({ maxSessions: 100 }, { ...deps, evidence: createSshdEvidence({ now: () => now }) });
    for (const entry of entries) {
      const record = recordFromJournalJson(entry);
      if (record === undefined) continue;
      now = record.time ?? now;
      brute.record(record);
      session.record(record);
    }
    brute.finish();
    session.finish();
    return alerts;
  }
});
