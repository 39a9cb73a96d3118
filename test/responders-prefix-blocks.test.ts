import { rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import type { ResponderSet } from "../agent/responders/registry.js";
import { nsExec, runOk, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { action, createResponderLab, ipTarget, type ResponderLab } from "./support/responder-lab.js";

/**
 * Prefix blocks with real nftables in network namespaces: the attacker
 * namespace holds 50 addresses of one IPv6 /64 routed to the server (a
 * scanner rotating its source inside its /64); one BLOCK_IP of one of them
 * stops all 50, while a client outside that /64 still gets 200. A /64 that
 * holds an allow-listed address is narrowed around it, and the result says
 * why.
 */

const ROTATING = 50;

describe("responders: prefix blocks (block.ipv6Prefix, nftables, network namespaces)", function () {
  this.timeout(120_000);
  let rl: ResponderLab;
  let nginx: NginxServer;
  let attacker: LabHost;
  let other: LabHost;
  let scanNet: string;
  let rotating: string[];

  /** HTTP status of GET / on the server from `source` (an address of the attacker namespace), 0 when nothing answered. */
  async function statusFrom(ns: string, source: string): Promise<number> {
    const url = `http://[${rl.lab.server.ipv6}]:80/`;
    const result = await nsExec(ns, "curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1.5", "--interface", source, "-g", url], { timeoutMs: 6000 });
    const code = Number(result.stdout.trim());
    return Number.isInteger(code) ? code : 0;
  }

  /** The statuses from every source, ten at a time (bounded: 50 curls of at most 1.5 s each). */
  async function statusesFrom(sources: readonly string[]): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < sources.length; i += 10) out.push(...(await Promise.all(sources.slice(i, i + 10).map((s) => statusFrom(attacker.ns, s)))));
    return out;
  }

  const blockSet = (allowlist: string[] = []): ResponderSet => rl.responders({ firewall: { allowlist } }, Date.now, { ipv4Prefix: 32, ipv6Prefix: 64 });

  before(async () => {
    rl = await createResponderLab(2);
    [attacker, other] = rl.lab.clients as [LabHost, LabHost];
    // The scanner's own /64, next to the lab's: fd00:5ec:X:77::/64, routed to the attacker's lab address.
    scanNet = rl.lab.network6.replace(/::\/64$/, ":77");
    rotating = Array.from({ length: ROTATING }, (_, i) => `${scanNet}::${(0x100 + i * 7).toString(16)}`);
    for (const address of [...rotating, `${scanNet}::1000`]) {
      await runOk("ip", ["-n", attacker.ns, "addr", "add", `${address}/128`, "dev", "eth0", "nodad"]);
    }
    await runOk("ip", ["-n", rl.lab.server.ns, "-6", "route", "add", `${scanNet}::/64`, "via", attacker.ipv6, "dev", "br0"]);
    nginx = await startNginx(rl.lab.server.ns);
  });

  after(async () => {
    await nginx?.stop();
    await rl?.cleanup();
  });

  afterEach(async () => {
    await nsExec(rl.lab.server.ns, "nft", ["delete", "table", "inet", "secarc"]);
    rmSync(join(rl.stateDir, "blocks.json"), { force: true });
  });

  it("a scanner rotating through 50 addresses of one /64 is stopped by one block; a client outside it still gets 200; unblock lifts the /64", async () => {
    expect(await statusesFrom(rotating)).to.deep.equal(rotating.map(() => 200));
    const firewall = blockSet().responders.get(Answer.BLOCK_IP)!;
    const blocked = await firewall.execute(action(Answer.BLOCK_IP, ipTarget(rotating[0]!), { durationMs: 3_600_000 }));
    expect(blocked.status, blocked.detail).to.equal(ResultStatus.DONE);
    expect(blocked.networks).to.deep.equal([`${scanNet}::/64`]);
    expect(blocked.detail).to.equal(`${scanNet}::/64 (the /64 of ${rotating[0]}) blocked for 1h`);
    expect(await statusesFrom(rotating)).to.deep.equal(rotating.map(() => 0));
    expect(await statusFrom(other.ns, other.ipv6)).to.equal(200);
    // The kernel holds one element for the 50 addresses.
    const elements = (await nsExec(rl.lab.server.ns, "nft", ["list", "set", "inet", "secarc", "blocknet6"])).stdout;
    expect(elements).to.contain(`${scanNet}::/64`);
    const lifted = await firewall.execute(action(Answer.UNBLOCK_IP, ipTarget(rotating[17]!)));
    expect(lifted.status, lifted.detail).to.equal(ResultStatus.DONE);
    expect(lifted.networks).to.deep.equal([`${scanNet}::/64`]);
    expect(await statusesFrom(rotating.slice(0, 10))).to.deep.equal(rotating.slice(0, 10).map(() => 200));
  });

  it("a /64 holding an allow-listed address is narrowed around it, with the reason; the allowed address still gets 200", async () => {
    const firewall = blockSet([`${scanNet}::1000`]).responders.get(Answer.BLOCK_IP)!;
    const blocked = await firewall.execute(action(Answer.BLOCK_IP, ipTarget(rotating[0]!), { durationMs: 3_600_000 }));
    expect(blocked.status, blocked.detail).to.equal(ResultStatus.DONE);
    // ::100 and ::1000 share 115 bits: the block is the /116 around ::100.
    expect(blocked.networks).to.deep.equal([`${scanNet}::/116`]);
    expect(blocked.detail).to.contain(`narrowed from /64 to /116: the /64 holds allowlist entry ${scanNet}::1000, never blocked`);
    expect(await statusFrom(attacker.ns, rotating[0]!)).to.equal(0);
    expect(await statusFrom(attacker.ns, rotating[ROTATING - 1]!)).to.equal(0);
    expect(await statusFrom(attacker.ns, `${scanNet}::1000`)).to.equal(200);
    // The allow-listed address itself is refused, as before.
    const refused = await firewall.execute(action(Answer.BLOCK_IP, ipTarget(`${scanNet}::1000`)));
    expect(refused.status).to.equal(ResultStatus.REFUSED);
    expect(refused.detail).to.equal(`refused: ${scanNet}::1000 is in allowlist ${scanNet}::1000`);
  });
});
