import { expect } from "chai";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { hostUrl, httpStatus, nsExec, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { action, createResponderLab, ipTarget, type ResponderLab } from "./support/responder-lab.js";

/** The iptables/ip6tables + ipset backend, with real kernel sets in a network namespace. */
describe("responders: firewall (iptables + ipset backend, network namespaces)", function () {
  this.timeout(60_000);
  let rl: ResponderLab;
  let nginx: NginxServer;
  let attacker: LabHost;
  let other: LabHost;

  before(async () => {
    rl = await createResponderLab(2);
    [attacker, other] = rl.lab.clients as [LabHost, LabHost];
    nginx = await startNginx(rl.lab.server.ns);
  });
  after(async () => {
    await nginx?.stop();
    await rl?.cleanup();
  });

  const http = (from: LabHost, ip: string) => httpStatus(from.ns, hostUrl(ip), 1500);

  it("blocks IPv4 and IPv6 through ipsets, refreshes without duplicates, unblocks, re-applies", async () => {
    const set = rl.responders({ firewall: { backend: "iptables" } });
    const block = set.responders.get(Answer.BLOCK_IP)!;
    expect(await http(attacker, rl.lab.server.ipv4)).to.equal(200);
    for (const ip of [attacker.ipv4, attacker.ipv6]) {
      const outcome = await block.execute(action(Answer.BLOCK_IP, ipTarget(ip), { durationMs: 600_000 }));
      expect(outcome.status, outcome.detail).to.equal(ResultStatus.DONE);
      expect(outcome.detail).to.equal(`${ip} blocked for 10m`);
    }
    expect(await http(attacker, rl.lab.server.ipv4)).to.equal(0);
    expect(await http(attacker, rl.lab.server.ipv6)).to.equal(0);
    expect(await http(other, rl.lab.server.ipv4)).to.equal(200);
    expect(await http(other, rl.lab.server.ipv6)).to.equal(200);

    // Again, longer: one entry per address, one jump and one rule per family.
    await block.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4), { durationMs: 3_600_000 }));
    const listed = await set.firewall.list();
    expect(listed.map((b) => b.ip).sort()).to.deep.equal([attacker.ipv4, attacker.ipv6].sort());
    expect(listed.find((b) => b.ip === attacker.ipv4)!.timeLeftMs).to.be.above(3_500_000);
    for (const bin of ["iptables", "ip6tables"]) {
      const rules = await nsExec(rl.lab.server.ns, bin, ["-w", "-S"]);
      expect(rules.stdout.split("\n").filter((l) => l === "-A INPUT -j SECARC"), bin).to.have.length(1);
      expect(rules.stdout.split("\n").filter((l) => l.startsWith("-A SECARC")), bin).to.have.length(1);
    }

    // A reboot empties the kernel; a new agent re-applies from the state file.
    await set.firewall.reapply();
    await nsExec(rl.lab.server.ns, "iptables", ["-w", "-F"]);
    await nsExec(rl.lab.server.ns, "ip6tables", ["-w", "-F"]);
    expect(await http(attacker, rl.lab.server.ipv4)).to.equal(200);
    const restarted = rl.responders({ firewall: { backend: "iptables" } });
    expect(await restarted.firewall.reapply()).to.deep.equal({ restored: 2, expired: 0, refused: 0 });
    expect(await http(attacker, rl.lab.server.ipv4)).to.equal(0);

    for (const ip of [attacker.ipv4, attacker.ipv6]) {
      const outcome = await restarted.responders.get(Answer.UNBLOCK_IP)!.execute(action(Answer.UNBLOCK_IP, ipTarget(ip)));
      expect(outcome.detail).to.equal(`${ip} unblocked`);
    }
    expect(await http(attacker, rl.lab.server.ipv4)).to.equal(200);
    expect(await http(attacker, rl.lab.server.ipv6)).to.equal(200);
    expect(await restarted.firewall.list()).to.deep.equal([]);
  });
});
