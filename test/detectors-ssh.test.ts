// System test (acceptance 3): real sshd (Debian openssh-server) in a network
// namespace, logging to a file with `sshd -E` (no syslog here); clients in
// other namespaces. A real agent runs the ssh-session and ssh-brute-force
// detectors on that file and sends their alerts over mutual TLS to a real
// controller, whose store the test reads. sshd -E lines carry no PID, so the
// agent finds the session's sshd through /proc by its connection.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { AlertKind, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import { startLinkedAgent, type LinkedAgent } from "./support/detectors-link.js";
import { createLab, type Lab } from "./support/netns.js";
import { sshFailedLogin, sshLogin, startSshd, waitForAccepted, type SshdServer } from "./support/sshd.js";

async function until(check: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("SSH detectors against real sshd in a network namespace", function () {
  this.timeout(90_000);
  let lab: Lab | undefined;
  let sshd: SshdServer | undefined;
  let linked: LinkedAgent | undefined;

  before(async () => {
    lab = await createLab({ clients: 2 });
    sshd = await startSshd(lab.server.ns);
    linked = await startLinkedAgent({
      sshSession: { source: "file", authLog: sshd.authLog, rawNewlines: true },
      sshBruteForce: { source: "file", authLog: sshd.authLog, rawNewlines: true },
      cpuSustained: { enabled: false },
      nginx404: { enabled: false },
    });
  });

  after(async () => {
    await linked?.close();
    await sshd?.stop();
    await lab?.cleanup();
  });

  it("a key-based login: an SSH session alert with the right user, address, port and PID is in the controller's store within 1 s", async () => {
    const client = lab!.clients[0]!;
    const ssh = sshLogin(client.ns, sshd!, { host: lab!.server.ipv4, command: 'echo "$SSH_CONNECTION"; sleep 3' });
    let output = "";
    let loggedInAt = 0;
    ssh.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (loggedInAt === 0) loggedInAt = Date.now(); // the session runs: sshd has logged "Accepted"
    });
    try {
      await until(() => output.includes("\n"), "the remote command's output", 15_000);
      await until(async () => (await linked!.stored(AlertKind.SSH_SESSION)).length > 0, "the session alert in the controller's store", 3000);
      expect(Date.now() - loggedInAt).to.be.below(1000);
      // "$SSH_CONNECTION" = "client_ip client_port server_ip server_port"; the session's sshd from /proc, independently
      const [clientIp, clientPort] = output.trim().split(" ");
      const session = await waitForAccepted(sshd!, client.ipv4);
      expect([clientIp, Number(clientPort)]).to.deep.equal([client.ipv4, session.port]);
      const { alert } = (await linked!.stored(AlertKind.SSH_SESSION))[0]!;
      expect(alert.severity).to.equal(Severity.INFO);
      expect(alert.state).to.equal(AlertState.OPEN);
      const s = alert.subject.case === "sshSession" ? alert.subject.value : undefined;
      expect(s).to.deep.include({ user: sshd!.user, sourceIp: client.ipv4, sourcePort: session.port, authMethod: "publickey", sshdPid: session.pid });
      // the session ends: the same alert is resolved
      await until(() => ssh.exitCode !== null, "the ssh client to finish", 10_000);
      await until(async () => (await linked!.stored(AlertKind.SSH_SESSION))[0]!.alert.state === AlertState.RESOLVED, "the resolution in the store", 3000);
      expect((await linked!.stored(AlertKind.SSH_SESSION))).to.have.length(1);
      expect((await linked!.stored(AlertKind.SSH_SESSION))[0]!.alert.revision).to.equal(2);
    } finally {
      if (ssh.exitCode === null) ssh.kill();
    }
  });

  it("25 failed password attempts: a brute-force alert for the client's address reaches the controller", async () => {
    const client = lab!.clients[1]!;
    // 5 connections × 5 wrong passwords
    const results = await Promise.all(Array.from({ length: 5 }, () => sshFailedLogin(client.ns, sshd!, { host: lab!.server.ipv4, attempts: 5 })));
    expect(results.map((r) => r.code)).to.not.include(0);
    const failedLines = readFileSync(sshd!.authLog, "utf8")
      .split("\n")
      .filter((l) => l.startsWith(`Failed password for ${sshd!.user} from ${client.ipv4} `));
    expect(failedLines).to.have.length(25);
    const critical = async () => (await linked!.stored(AlertKind.SSH_BRUTE_FORCE)).some((r) => r.alert.severity === Severity.CRITICAL);
    await until(critical, "a critical brute-force alert in the controller's store", 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const brute = (await linked!.stored(AlertKind.SSH_BRUTE_FORCE)).map((r) => r.alert);
    expect(brute).to.have.length(1); // one alert per address per burst, escalated in place
    expect(`${Severity[brute[0]!.severity]}/${AlertState[brute[0]!.state]}#${brute[0]!.revision}`).to.equal("CRITICAL/OPEN#2");
    const s = brute[0]!.subject.case === "sshFailures" ? brute[0]!.subject.value : undefined;
    expect(s?.sourceIp).to.equal(client.ipv4);
    expect(s?.count).to.equal(20);
    expect(s?.usernames).to.deep.equal([sshd!.user]);
  });
});
