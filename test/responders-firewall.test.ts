import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { hostUrl, httpStatus, nsExec, tcpConnects, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { startSshd, sshLogin, waitForAccepted, type SshdServer } from "./support/sshd.js";
import { action, createResponderLab, ipTarget, type ResponderLab } from "./support/responder-lab.js";

/**
 * Blocking with real nftables in a network namespace: nginx and sshd run in
 * the "server" namespace, clients connect from their own namespaces over
 * IPv4 and IPv6, and the responders act on the server namespace.
 */

type Family = "ipv4" | "ipv6";

describe("responders: firewall (nftables, network namespaces)", function () {
  this.timeout(60_000);
  let rl: ResponderLab;
  let nginx: NginxServer;
  let sshd: SshdServer;
  let attacker: LabHost;
  let other: LabHost;

  const serverAddr = (family: Family) => (family === "ipv4" ? rl.lab.server.ipv4 : rl.lab.server.ipv6);
  const http = (from: LabHost, family: Family) => httpStatus(from.ns, hostUrl(serverAddr(family)), 1500);
  const ssh = (from: LabHost, family: Family) => tcpConnects(from.ns, serverAddr(family), 22, 1500);

  async function reachable(from: LabHost, family: Family): Promise<{ http: number; ssh: boolean }> {
    const [h, s] = await Promise.all([http(from, family), ssh(from, family)]);
    return { http: h, ssh: s };
  }

  const sshdLog = () => readFileSync(sshd.authLog, "utf8");

  before(async () => {
    rl = await createResponderLab(2);
    [attacker, other] = rl.lab.clients as [LabHost, LabHost];
    nginx = await startNginx(rl.lab.server.ns);
    sshd = await startSshd(rl.lab.server.ns);
  });

  after(async () => {
    await sshd?.stop();
    await nginx?.stop();
    await rl?.cleanup();
  });

  afterEach(async () => {
    // Each test starts without blocks.
    await nsExec(rl.lab.server.ns, "nft", ["delete", "table", "inet", "secarc"]);
    rmSync(join(rl.stateDir, "blocks.json"), { force: true });
  });

  for (const family of ["ipv4", "ipv6"] as const) {
    it(`blocks and unblocks an ${family} address: HTTP and SSH dropped, other clients unaffected`, async () => {
      const ip = family === "ipv4" ? attacker.ipv4 : attacker.ipv6;
      expect(await reachable(attacker, family)).to.deep.equal({ http: 200, ssh: true });

      const set = rl.responders();
      const blocked = await set.responders.get(Answer.BLOCK_IP)!.execute(action(Answer.BLOCK_IP, ipTarget(ip)));
      expect(blocked.status, blocked.detail).to.equal(ResultStatus.DONE);
      expect(blocked.detail).to.equal(`${ip} blocked for 24h`);
      expect(blocked.expiresAt!.getTime()).to.be.closeTo(Date.now() + 86_400_000, 10_000);

      expect(await reachable(attacker, family)).to.deep.equal({ http: 0, ssh: false });
      expect(await reachable(other, family)).to.deep.equal({ http: 200, ssh: true });
      const listed = await set.firewall.list();
      expect(listed.map((b) => b.ip)).to.deep.equal([ip]);
      expect(listed[0]!.timeLeftMs).to.be.within(86_000_000, 86_400_000);

      const unblocked = await set.responders.get(Answer.UNBLOCK_IP)!.execute(action(Answer.UNBLOCK_IP, ipTarget(ip)));
      expect(unblocked.status, unblocked.detail).to.equal(ResultStatus.DONE);
      expect(await reachable(attacker, family)).to.deep.equal({ http: 200, ssh: true });
      expect(await set.firewall.list()).to.deep.equal([]);
    });

    it(`an ${family} block with a 3 s duration ends by itself`, async () => {
      const ip = family === "ipv4" ? attacker.ipv4 : attacker.ipv6;
      const set = rl.responders();
      const outcome = await set.responders.get(Answer.BLOCK_IP)!.execute(action(Answer.BLOCK_IP, ipTarget(ip), { durationMs: 3000 }));
      expect(outcome.detail).to.equal(`${ip} blocked for 3s`);
      const start = Date.now();
      expect(await ssh(attacker, family)).to.equal(false);
      // Bounded wait: the kernel drops the element once its timeout passes.
      let open = false;
      for (let i = 0; i < 40 && !open; i += 1) {
        await new Promise((r) => setTimeout(r, 250));
        open = await ssh(attacker, family);
      }
      expect(open).to.equal(true);
      expect(Date.now() - start).to.be.at.least(2500);
      expect(await http(attacker, family)).to.equal(200);
    });
  }

  it("blocking again refreshes the timeout and never duplicates elements or rules", async () => {
    const set = rl.responders();
    const block = set.responders.get(Answer.BLOCK_IP)!;
    await block.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4), { durationMs: 5000 }));
    const first = await rl.ruleset();
    await block.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4), { durationMs: 3_600_000 }));
    await block.execute(action(Answer.BLOCK_IP, ipTarget(`::ffff:${attacker.ipv4}`), { durationMs: 3_600_000 }));
    const second = await rl.ruleset();
    const drops = (text: string) => text.split("\n").filter((l) => l.trim().endsWith("drop")).length;
    // v4 and v6 rules in each of the two chains (prerouting, input)
    expect(drops(first)).to.equal(4);
    expect(drops(second)).to.equal(4);
    const listed = await set.firewall.list();
    expect(listed).to.have.length(1);
    expect(listed[0]!.timeLeftMs).to.be.above(3_500_000);
    // 0 = until unblocked: no timeout on the element.
    await block.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4), { durationMs: 0 }));
    const permanent = await set.firewall.list();
    expect(permanent).to.deep.equal([{ ip: attacker.ipv4, family: 4 }]);
  });

  for (const family of ["ipv4", "ipv6"] as const) {
    it(`blocking an ${family} address closes its open SSH session, not another client's`, async () => {
      const server = serverAddr(family);
      const mineIp = family === "ipv4" ? attacker.ipv4 : attacker.ipv6;
      const theirIp = family === "ipv4" ? other.ipv4 : other.ipv6;
      const seen = (ip: string) => sshdLog().split("\n").filter((l) => l.startsWith("Accepted") && l.includes(` from ${ip} `)).length;
      const [mineBefore, theirsBefore] = [seen(mineIp), seen(theirIp)];
      const mine = sshLogin(attacker.ns, sshd, { host: server });
      const theirs = sshLogin(other.ns, sshd, { host: server });
      try {
        await waitForAccepted(sshd, mineIp, 10_000, mineBefore);
        await waitForAccepted(sshd, theirIp, 10_000, theirsBefore);
        const ended = new Promise<number | null>((resolve) => mine.once("exit", (code) => resolve(code)));
        const set = rl.responders();
        const outcome = await set.responders.get(Answer.BLOCK_IP)!.execute(action(Answer.BLOCK_IP, ipTarget(mineIp)));
        expect(outcome.status, outcome.detail).to.equal(ResultStatus.DONE);
        expect(outcome.detail).to.equal(`${mineIp} blocked for 24h; closed 1 SSH session`);
        const code = await Promise.race([ended, new Promise((r) => setTimeout(() => r("still running"), 5000))]);
        expect(code).to.not.equal("still running");
        expect(theirs.exitCode).to.equal(null);
        expect(await ssh(other, family)).to.equal(true);
      } finally {
        mine.kill("SIGKILL");
        theirs.kill("SIGKILL");
      }
    });
  }

  it("refuses unsafe or invalid targets with a reason and leaves the ruleset unchanged", async () => {
    const set = rl.responders({ firewall: { allowlist: ["192.0.2.0/24", "2001:db8:5::/48"] } });
    const block = set.responders.get(Answer.BLOCK_IP)!;
    // Set the table up first, so "unchanged" compares a real ruleset.
    await block.execute(action(Answer.BLOCK_IP, ipTarget("198.51.100.9")));
    const before = await rl.ruleset();
    const cases: Array<[string, string]> = [
      ["127.0.0.1", "refused: 127.0.0.1 is a loopback address"],
      ["127.8.9.10", "refused: 127.8.9.10 is a loopback address"],
      ["::1", "refused: ::1 is a loopback address"],
      ["::ffff:127.0.0.1", "refused: 127.0.0.1 is a loopback address"],
      ["0.0.0.0", "refused: 0.0.0.0 is the unspecified address"],
      ["::", "refused: :: is the unspecified address"],
      [rl.controller4, `refused: ${rl.controller4} is the controller's address ${rl.controller4}`],
      [rl.controller6, `refused: ${rl.controller6} is the controller's address ${rl.controller6}`],
      [rl.lab.server.ipv4, `refused: ${rl.lab.server.ipv4} is this host's address ${rl.lab.server.ipv4}`],
      ["192.0.2.5", "refused: 192.0.2.5 is in allowlist 192.0.2.0/24"],
      ["2001:db8:5::77", "refused: 2001:db8:5::77 is in allowlist 2001:db8:5::/48"],
      ["0.0.0.0/0", "refused: 0.0.0.0/0 is a network; blocking networks is disabled (firewall.allowCidr)"],
      ["10.0.0.0/8", "refused: 10.0.0.0/8 is a network; blocking networks is disabled (firewall.allowCidr)"],
      ["1.2.3.4; reboot", 'refused: "1.2.3.4; reboot" is not an IP address'],
      ["--flush", 'refused: "--flush" is not an IP address'],
      ["1.2.3.4 } ; flush ruleset ; {", 'refused: "1.2.3.4 } ; flush ruleset ; {" is not an IP address'],
      ["fe80::1%eth0", 'refused: "fe80::1%eth0" is not an IP address'],
      ["", 'refused: "" is not an IP address'],
    ];
    for (const [input, reason] of cases) {
      const outcome = await block.execute(action(Answer.BLOCK_IP, ipTarget(input)));
      expect(outcome.status, input).to.equal(ResultStatus.REFUSED);
      expect(outcome.detail, input).to.equal(reason);
    }
    const noTarget = await block.execute(action(Answer.BLOCK_IP));
    expect(noTarget).to.deep.equal({ status: ResultStatus.REFUSED, detail: "refused: BLOCK_IP needs an address (target.ip)" });
    expect(await rl.ruleset()).to.equal(before);
    // With networks allowed, 0.0.0.0/0 is still refused: it contains loopback and the controller.
    const cidr = rl.responders({ firewall: { allowCidr: true } });
    const wide = await cidr.responders.get(Answer.BLOCK_IP)!.execute(action(Answer.BLOCK_IP, ipTarget("0.0.0.0/0")));
    expect(wide.detail).to.equal("refused: 0.0.0.0/0 contains the unspecified address");
    expect(await rl.ruleset()).to.equal(before);
    expect(await reachable(attacker, "ipv4")).to.deep.equal({ http: 200, ssh: true });
    // The sshd listener is untouched.
    expect(sshd.process.exitCode).to.equal(null);
    expect(await ssh(other, "ipv6")).to.equal(true);
  });

  it("a restarted agent re-applies active blocks (remaining time honoured, expired ones dropped)", async () => {
    const t0 = Date.now();
    const first = rl.responders({}, () => t0);
    const block = first.responders.get(Answer.BLOCK_IP)!;
    expect((await block.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4), { durationMs: 7_200_000 }))).status).to.equal(ResultStatus.DONE);
    expect((await block.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv6), { durationMs: 0 }))).status).to.equal(ResultStatus.DONE);
    expect((await block.execute(action(Answer.BLOCK_IP, ipTarget("198.51.100.50"), { durationMs: 60_000 }))).status).to.equal(ResultStatus.DONE);

    // A reboot: the kernel forgets everything.
    await nsExec(rl.lab.server.ns, "nft", ["flush", "ruleset"]);
    expect(await rl.ruleset()).to.equal("");
    expect(await reachable(attacker, "ipv4")).to.deep.equal({ http: 200, ssh: true });

    // The agent starts again an hour later.
    const later = t0 + 3_600_000;
    const second = rl.responders({}, () => later);
    const result = await second.firewall.reapply();
    expect(result).to.deep.equal({ restored: 2, expired: 1, refused: 0 });
    const ruleset = await rl.ruleset();
    expect(ruleset).to.contain(attacker.ipv4).and.to.contain(attacker.ipv6).and.not.contain("198.51.100.50");
    expect(ruleset).to.contain("ip saddr @blocked4 drop");
    const listed = await second.firewall.list();
    const v4 = listed.find((b) => b.ip === attacker.ipv4);
    expect(v4?.timeLeftMs).to.be.within(3_590_000, 3_600_000);
    expect(listed.find((b) => b.ip === attacker.ipv6)).to.deep.equal({ ip: attacker.ipv6, family: 6 });
    expect(await reachable(attacker, "ipv4")).to.deep.equal({ http: 0, ssh: false });
    expect(await reachable(attacker, "ipv6")).to.deep.equal({ http: 0, ssh: false });
    await second.responders.get(Answer.UNBLOCK_IP)!.execute(action(Answer.UNBLOCK_IP, ipTarget(attacker.ipv4)));
    await second.responders.get(Answer.UNBLOCK_IP)!.execute(action(Answer.UNBLOCK_IP, ipTarget(attacker.ipv6)));
    // After unblocking, a further restart restores nothing.
    await nsExec(rl.lab.server.ns, "nft", ["flush", "ruleset"]);
    expect(await rl.responders({}, () => later).firewall.reapply()).to.deep.equal({ restored: 0, expired: 0, refused: 0 });
  });

  it("dry run reports the nft transaction and changes nothing", async () => {
    const before = await rl.ruleset();
    const set = rl.responders({ dryRun: true });
    const outcome = await set.responders.get(Answer.BLOCK_IP)!.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4)));
    expect(outcome.status).to.equal(ResultStatus.DONE);
    expect(outcome.dryRun).to.equal(true);
    const ip = attacker.ipv4;
    expect(outcome.detail).to.equal(
      `dry run: would block ${ip} for 24h: nft -f - <<< add element inet secarc blocked4 { ${ip} }; ` +
        `delete element inet secarc blocked4 { ${ip} }; add element inet secarc blocked4 { ${ip} timeout 86400000ms }`,
    );
    expect(await rl.ruleset()).to.equal(before);
    expect(await reachable(attacker, "ipv4")).to.deep.equal({ http: 200, ssh: true });
  });
});
