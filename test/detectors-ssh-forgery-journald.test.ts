// System test (issue 11, finding 1) on the journald source: lines forged
// inside a user name never make an alert name another address. A real
// systemd-journald (test/support/journald.ts: a plain process in a private
// mount namespace, /dev/log pointing at its dev-log socket) receives the
// syslog(3) messages of a real sshd (no `-E`) in a network namespace; sshd
// runs in a cgroup named ssh.service, so journald gives its entries
// _SYSTEMD_UNIT=ssh.service as under systemd. The attacker's client
// (ssh-raw-client.py) sends user names holding whole sshd lines; a real
// agent follows the journal (source: journald, journalDirectory) and sends
// its alerts over mutual TLS to a real controller, whose store is read.
import { expect } from "chai";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { startLinkedAgent, type LinkedAgent } from "./support/detectors-link.js";
import { createUnitCgroup, startJournald, type TestJournald, type UnitCgroup } from "./support/journald.js";
import { createLab, type Lab } from "./support/netns.js";
import { FORGED, FORGED_FAILURE, FORGED_LOGIN, HOSTILE_USERS, addressesOf, until } from "./support/ssh-forgery.js";
import { rawSshClient, sshLogin, startSshd, type SshdServer } from "./support/sshd.js";

describe("Forged sshd lines inside user names (real sshd logging to a real journald)", function () {
  this.timeout(60_000);
  let lab: Lab | undefined;
  let journald: TestJournald | undefined;
  let cgroup: UnitCgroup | undefined;
  let sshd: SshdServer | undefined;
  let linked: LinkedAgent | undefined;
  let entries: Record<string, unknown>[] = [];

  before(async () => {
    lab = await createLab({ clients: 2 });
    journald = await startJournald();
    cgroup = createUnitCgroup("ssh");
    // PAM as on Debian: each failed password holds the connection ~2 s (pam_unix's delay)
    sshd = await startSshd(lab.server.ns, { settings: { UsePAM: "yes" }, syslog: true, cgroupProcs: cgroup.procs });
    const source = { source: "journald", journalUnits: ["ssh"], journalDirectory: journald.directory };
    linked = await startLinkedAgent({ sshSession: source, sshBruteForce: source, cpuSustained: { enabled: false }, nginx404: { enabled: false } });
    const other = lab.clients[1]!;
    // First a real login: once its alert is stored, the agent's journalctl follows the journal
    // (it reads only new entries: a login before it opened the journal is logged in again, at most 5 times).
    for (let attempt = 1; (await linked.stored(AlertKind.SSH_SESSION)).length === 0; attempt += 1) {
      const login = sshLogin(other.ns, sshd, { host: lab.server.ipv4, command: "true" });
      await new Promise<void>((resolve) => login.once("exit", () => resolve()));
      await until(async () => (await linked!.stored(AlertKind.SSH_SESSION)).length > 0, "the real login's alert", 3_000).catch((err: unknown) => {
        if (attempt >= 5) throw err;
      });
    }
    const attacker = lab.clients[0]!;
    // 3 connections × 2 tries for each hostile name: 6 forged failures each, past the warning at 5
    await Promise.all(
      HOSTILE_USERS.map(async (user) => {
        const runs = await Promise.all([0, 1, 2].map(() => rawSshClient(attacker.ns, lab!.server.ipv4, sshd!.port, ["password", user, "wrong", "2"])));
        expect(runs.map((r) => r.replies.join(","))).to.deep.equal(["failure,failure", "failure,failure", "failure,failure"]);
      }),
    );
    // Then a real brute force from the other client: once its alert is stored, the agent has read the forgeries before it.
    await Promise.all([0, 1].map(() => rawSshClient(other.ns, lab!.server.ipv4, sshd!.port, ["password", sshd!.user, "wrong", "3"])));
    await until(async () => (await linked!.stored(AlertKind.SSH_BRUTE_FORCE)).some((r) => addressesOf([r.alert])[0] === other.ipv4), "the real brute force's alert", 15_000);
    await new Promise((r) => setTimeout(r, 500));
    entries = await journald.entries(["ssh"]);
  });

  after(async () => {
    await linked?.close();
    await sshd?.stop();
    await cgroup?.remove();
    await journald?.stop();
    await lab?.cleanup();
  });

  it("the journal holds sshd's syslog entries of the attack, one entry per message, with journald's own fields", () => {
    const fromSshd = entries.filter((e) => e._TRANSPORT === "syslog" && e._COMM === "sshd" && e._SYSTEMD_UNIT === "ssh.service");
    const sessionPids = new Set(fromSshd.map((e) => Number(e._PID)).filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== sshd!.pid));
    expect(sessionPids.size, "one sshd per connection").to.be.at.least(HOSTILE_USERS.length * 3);
    const text = (e: Record<string, unknown>) => (typeof e.MESSAGE === "string" ? e.MESSAGE : Array.isArray(e.MESSAGE) ? Buffer.from(e.MESSAGE as number[]).toString("utf8") : "");
    const attacker = lab!.clients[0]!.ipv4;
    for (const forged of [FORGED_FAILURE, FORGED_LOGIN]) {
      const holding = fromSshd.filter((e) => text(e).includes(forged));
      expect(holding.length, `entries holding "${forged}"`).to.be.at.least(6);
      // never an entry of its own: each is inside a message of sshd's naming the attacker
      for (const e of holding) {
        expect(text(e).startsWith(forged.split(" from")[0]!), text(e)).to.equal(false);
        expect(text(e)).to.include(attacker);
      }
    }
    expect(fromSshd.filter((e) => text(e).startsWith(`Failed password for ${sshd!.user} from ${lab!.clients[1]!.ipv4} `)).length).to.equal(6);
    expect(fromSshd.filter((e) => text(e).startsWith(`Accepted publickey for ${sshd!.user} from ${lab!.clients[1]!.ipv4} `)).length).to.be.at.least(1);
  });

  it("journald: no alert names a forged address; the real brute force and the real login are seen with sshd's address", async () => {
    const brute = (await linked!.stored(AlertKind.SSH_BRUTE_FORCE)).map((r) => r.alert);
    const sessions = (await linked!.stored(AlertKind.SSH_SESSION)).map((r) => r.alert);
    expect(sessions.length).to.be.at.least(1);
    expect(addressesOf(sessions)).to.deep.equal(sessions.map(() => lab!.clients[1]!.ipv4));
    expect(addressesOf(brute)).to.include(lab!.clients[1]!.ipv4);
    expect(addressesOf(brute), "the attacker is counted, with sshd's address for it").to.include(lab!.clients[0]!.ipv4);
    for (const ip of addressesOf(brute)) expect([lab!.clients[0]!.ipv4, lab!.clients[1]!.ipv4]).to.include(ip);
    for (const forged of FORGED) expect(JSON.stringify([...brute, ...sessions].map((a) => a.summary))).to.not.include(forged);
  });
});
