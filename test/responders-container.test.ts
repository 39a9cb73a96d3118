import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { createNamespace, hostUrl, httpStatus, nsExec, removeNamespace, runOk, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { action, createResponderLab, ipTarget, type ResponderLab } from "./support/responder-lab.js";

/**
 * Blocks hold for containers: a "container" namespace behind the server on
 * its own bridge-like link (10.232.0.0/24), its nginx published on the
 * server's port 8080 the way Docker publishes ports — DNAT in prerouting,
 * then the forward path. Nothing listens on 8080 on the server itself. A
 * block must stop the attacker reaching the container while another client
 * still gets through: with nftables (the table's prerouting chain, before
 * DNAT) and with iptables (the SECARC chain jumped to from DOCKER-USER).
 */

const PUBLISHED = 8080;
const CONTAINER_IP = "10.232.0.2";

describe("responders: blocks hold for a container behind DNAT (network namespaces)", function () {
  this.timeout(90_000);
  let rl: ResponderLab;
  let container: string;
  let nginx: NginxServer;
  let attacker: LabHost;
  let other: LabHost;

  const published = (from: LabHost) => httpStatus(from.ns, hostUrl(rl.lab.server.ipv4, PUBLISHED), 1500);
  const server = (file: string, args: string[]) => runOk("ip", ["netns", "exec", rl.lab.server.ns, file, ...args]);

  before(async () => {
    rl = await createResponderLab(2);
    [attacker, other] = rl.lab.clients as [LabHost, LabHost];
    container = await createNamespace(`${rl.lab.id}-ctr`);
    const s = rl.lab.server.ns;
    await runOk("ip", ["-n", s, "link", "add", "ctr0", "type", "veth", "peer", "name", "eth0", "netns", container]);
    await runOk("ip", ["-n", s, "addr", "add", "10.232.0.1/24", "dev", "ctr0"]);
    await runOk("ip", ["-n", s, "link", "set", "ctr0", "up"]);
    await runOk("ip", ["-n", container, "addr", "add", `${CONTAINER_IP}/24`, "dev", "eth0"]);
    await runOk("ip", ["-n", container, "link", "set", "eth0", "up"]);
    await runOk("ip", ["-n", container, "route", "add", "default", "via", "10.232.0.1"]);
    await server("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
    // Docker's port publishing, reduced to its DNAT rule.
    await runOk("ip", ["netns", "exec", s, "nft", "-f", "-"], {
      input: ["table ip published {", "  chain prerouting {", "    type nat hook prerouting priority dstnat; policy accept;", `    tcp dport ${PUBLISHED} dnat to ${CONTAINER_IP}:80`, "  }", "}", ""].join("\n"),
    });
    nginx = await startNginx(container);
  });

  after(async () => {
    await nginx?.stop();
    if (container) await removeNamespace(container);
    await rl?.cleanup();
  });

  afterEach(async () => {
    await nsExec(rl.lab.server.ns, "nft", ["delete", "table", "inet", "secarc"]);
    rmSync(join(rl.stateDir, "blocks.json"), { force: true });
  });

  it("nftables: a block stops the attacker reaching the published container port; another client still gets 200", async () => {
    expect(await published(attacker)).to.equal(200);
    expect(await published(other)).to.equal(200);
    // It is the container that answered, seeing the attacker's own address (DNAT keeps the source).
    expect(readFileSync(nginx.accessLog, "utf8")).to.contain(attacker.ipv4);
    const block = rl.responders().responders.get(Answer.BLOCK_IP)!;
    const result = await block.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4), { durationMs: 600_000 }));
    expect(result.status, result.detail).to.equal(ResultStatus.DONE);
    expect(await published(attacker)).to.equal(0);
    expect(await published(other)).to.equal(200);
    const chain = (await nsExec(rl.lab.server.ns, "nft", ["list", "chain", "inet", "secarc", "prerouting"])).stdout;
    expect(chain).to.match(/hook prerouting priority (dstnat - 10|-110)/);
  });

  it("iptables: SECARC is jumped to from DOCKER-USER when it exists, so a block holds on the forward path", async () => {
    for (const bin of ["iptables", "ip6tables"]) {
      await server(bin, ["-w", "-N", "DOCKER-USER"]);
      await server(bin, ["-w", "-I", "FORWARD", "1", "-j", "DOCKER-USER"]);
    }
    const set = rl.responders({ firewall: { backend: "iptables" } });
    try {
      expect(await published(attacker)).to.equal(200);
      const result = await set.responders.get(Answer.BLOCK_IP)!.execute(action(Answer.BLOCK_IP, ipTarget(attacker.ipv4), { durationMs: 600_000 }));
      expect(result.status, result.detail).to.equal(ResultStatus.DONE);
      expect(await published(attacker)).to.equal(0);
      expect(await published(other)).to.equal(200);
      for (const bin of ["iptables", "ip6tables"]) {
        const rules = (await nsExec(rl.lab.server.ns, bin, ["-w", "-S", "DOCKER-USER"])).stdout.split("\n");
        expect(rules.filter((l) => l === "-A DOCKER-USER -j SECARC"), bin).to.have.length(1);
      }
    } finally {
      // Leave the namespace's iptables and ipsets as they were.
      const backend = await set.firewall.backendName();
      expect(backend).to.equal("iptables");
      const { createIptablesBackend } = await import("../agent/responders/iptables.js");
      const { createNetnsRunner } = await import("./support/netns-runner.js");
      await createIptablesBackend({ runner: createNetnsRunner(rl.lab.server.ns), networkSets: { 4: false, 6: false } }).remove();
      for (const bin of ["iptables", "ip6tables"]) {
        await nsExec(rl.lab.server.ns, bin, ["-w", "-D", "FORWARD", "-j", "DOCKER-USER"]);
        await nsExec(rl.lab.server.ns, bin, ["-w", "-X", "DOCKER-USER"]);
      }
    }
  });
});
