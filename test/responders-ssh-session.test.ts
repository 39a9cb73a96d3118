import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { readProc } from "../agent/proc/proc-sockets.js";
import { tcpConnects, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { reaped, startSshd, sshLogin, waitForAccepted, type SshdServer } from "./support/sshd.js";
import { action, createResponderLab, sessionTarget, type ResponderLab } from "./support/responder-lab.js";
import { exited } from "./support/child-exit.js";

/**
 * Closing one SSH session with a real sshd in a network namespace: two
 * clients log in, the session of one is closed by its sshd pid, source
 * address and port; the other session and the listener stay.
 */

describe("responders: close SSH session (real sshd in a namespace)", function () {
  this.timeout(60_000);
  let rl: ResponderLab;
  let sshd: SshdServer;
  let nginx: NginxServer;
  let a: LabHost;
  let b: LabHost;
  const children: ChildProcess[] = [];

  before(async () => {
    rl = await createResponderLab(2);
    [a, b] = rl.lab.clients as [LabHost, LabHost];
    sshd = await startSshd(rl.lab.server.ns);
    nginx = await startNginx(rl.lab.server.ns);
  });

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await nginx?.stop();
    await sshd?.stop();
    await rl?.cleanup();
  });

  it("closes exactly the named session; the other session and the listener stay", async () => {
    const sessionA = sshLogin(a.ns, sshd, { host: rl.lab.server.ipv6 });
    const sessionB = sshLogin(b.ns, sshd, { host: rl.lab.server.ipv4 });
    children.push(sessionA, sessionB);
    const accA = await waitForAccepted(sshd, a.ipv6);
    const accB = await waitForAccepted(sshd, b.ipv4);
    expect(readProc(accA.pid)?.cmdline).to.equal("sshd: secarc-test [priv]");

    const closer = rl.responders().responders.get(Answer.CLOSE_SESSION)!;
    const outcome = await closer.execute(action(Answer.CLOSE_SESSION, sessionTarget(accA.pid, accA.ip, accA.port)));
    expect(outcome.status, outcome.detail).to.equal(ResultStatus.DONE);
    expect(outcome.detail).to.equal(`closed SSH session sshd: secarc-test [priv] (pid ${accA.pid}) from [${a.ipv6}]:${accA.port}`);
    expect(await exited(sessionA, 5000)).to.equal(true);
    expect(await reaped(accA.pid), `pid ${accA.pid} state ${readProc(accA.pid)?.state}`).to.equal(true);

    expect(sessionB.exitCode).to.equal(null);
    expect(readProc(accB.pid)?.cmdline).to.equal("sshd: secarc-test [priv]");
    expect(sshd.process.exitCode).to.equal(null);
    // New sessions are still allowed.
    expect(await tcpConnects(a.ns, rl.lab.server.ipv6, 22)).to.equal(true);
  });

  it("refuses a pid that is not that session's sshd, and touches nothing", async () => {
    const sessionA = sshLogin(a.ns, sshd, { host: rl.lab.server.ipv4 });
    const sessionB = sshLogin(b.ns, sshd, { host: rl.lab.server.ipv4 });
    children.push(sessionA, sessionB);
    const accA = await waitForAccepted(sshd, a.ipv4);
    const accB = await waitForAccepted(sshd, b.ipv4, 10_000, 1);
    const closer = rl.responders().responders.get(Answer.CLOSE_SESSION)!;
    const nginxPid = nginx.process.pid!;
    const cases: Array<[number, string, number, string]> = [
      // B's sshd named with A's address and port (forged or stale data).
      [accB.pid, accA.ip, accA.port, `refused: process ${accB.pid} does not serve a connection from ${accA.ip}:${accA.port}`],
      // Right pid, wrong port.
      [accA.pid, accA.ip, accA.port === 65_000 ? 65_001 : 65_000, `refused: process ${accA.pid} does not serve a connection from ${accA.ip}:${accA.port === 65_000 ? 65_001 : 65_000}`],
      // The listener.
      [sshd.pid, accA.ip, accA.port, `refused: process ${sshd.pid} (${readProc(sshd.pid)!.cmdline.slice(0, 60)}) is not an sshd session process`],
      // Another program (PID reuse).
      [nginxPid, accA.ip, accA.port, `refused: process ${nginxPid} (${readProc(nginxPid)!.cmdline.slice(0, 60)}) is not an sshd session process`],
      // The agent itself is in another namespace.
      [process.pid, accA.ip, accA.port, `refused: process ${process.pid} is not in this host's network namespace`],
      [4_000_000, accA.ip, accA.port, "refused: process 4000000 does not exist (session already closed?)"],
      [1, accA.ip, accA.port, "refused: 1 is not a valid sshd pid"],
      [0, accA.ip, accA.port, "refused: 0 is not a valid sshd pid"],
      [accA.pid, "10.0.0.1; kill -9 1", accA.port, 'refused: "10.0.0.1; kill -9 1" is not an IP address'],
      [accA.pid, accA.ip, 0, "refused: 0 is not a valid port"],
    ];
    for (const [pid, ip, port, reason] of cases) {
      const outcome = await closer.execute(action(Answer.CLOSE_SESSION, sessionTarget(pid, ip, port)));
      expect(outcome.status, reason).to.equal(ResultStatus.REFUSED);
      expect(outcome.detail).to.equal(reason);
    }
    const noTarget = await closer.execute(action(Answer.CLOSE_SESSION));
    expect(noTarget.detail).to.equal("refused: CLOSE_SESSION needs a session (target.session)");
    expect(await exited(sessionA, 300)).to.equal(false);
    expect(await exited(sessionB, 300)).to.equal(false);
    expect(sshd.process.exitCode).to.equal(null);
    expect(nginx.process.exitCode).to.equal(null);

    // Dry run names the processes and leaves them.
    const dry = rl.responders({ dryRun: true }).responders.get(Answer.CLOSE_SESSION)!;
    const would = await dry.execute(action(Answer.CLOSE_SESSION, sessionTarget(accA.pid, accA.ip, accA.port)));
    expect(would.dryRun).to.equal(true);
    expect(would.detail).to.match(new RegExp(`^dry run: would send SIGTERM to ${accA.pid}, \\d+: sshd: secarc-test \\[priv\\] \\(pid ${accA.pid}\\)`));
    expect(await exited(sessionA, 300)).to.equal(false);
  });
});
