import { expect } from "chai";
import { silentLogger } from "../common/log.js";
import { respondersConfigSchema, type RespondersConfigInput } from "../agent/responders/config.js";
import { createProgramRunner, type Command, type ProgramRunner } from "../agent/responders/program-runner.js";
import { createNetnsRunner } from "./support/netns-runner.js";
import { createResponderSet } from "../agent/responders/registry.js";
import { hostUrl, httpStatus, nsExec, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { createResponderLab, type ResponderLab } from "./support/responder-lab.js";

const COUNT = 10_000;

/** Distinct addresses in 198.18.0.0/15 (the benchmarking range), skipping .0 and .255. */
function addresses(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i += 1) out.push(`198.${18 + Math.floor(i / 254 / 256)}.${Math.floor(i / 254) % 256}.${(i % 254) + 1}`);
  return out;
}

describe("bulk restore: the stored blocks re-applied at agent start in one nft transaction (real nftables in a namespace)", function () {
  this.timeout(120_000);
  let rl: ResponderLab;
  let nginx: NginxServer;
  let attacker: LabHost;

  before(async () => {
    rl = await createResponderLab(1);
    attacker = rl.lab.clients[0]!;
    nginx = await startNginx(rl.lab.server.ns);
  });
  after(async () => {
    await nginx?.stop();
    await rl?.cleanup();
  });

  /** The agent's start-up responder set, with every command it runs recorded. */
  function startResponders(config: RespondersConfigInput = {}) {
    const commands: Command[] = [];
    const inner = createNetnsRunner(rl.lab.server.ns, createProgramRunner());
    const runner: ProgramRunner = {
      run(command) {
        commands.push(command);
        return inner.run(command);
      },
    };
    const set = createResponderSet(respondersConfigSchema.parse(config), {
      logger: silentLogger(),
      now: Date.now,
      controllerAddresses: [rl.controller4, rl.controller6],
      stateDir: rl.stateDir,
      runner,
      ownAddresses: () => ["127.0.0.1", "::1", rl.lab.server.ipv4, rl.lab.server.ipv6],
      // single-address blocks: the sets of addresses only, as the restored blocks are addresses
      blockPrefixes: { ipv4Prefix: 32, ipv6Prefix: 128 },
    });
    return { set, commands };
  }

  /** The nft invocations: the backend probe ("auto") and the transactions. */
  const nftCalls = (commands: Command[]) => commands.filter((c) => c.file === "nft").map((c) => c.args.join(" "));
  const server4 = () => hostUrl(rl.lab.server.ipv4);

  it(`${COUNT.toLocaleString("en-US")} blocks: one nft -f after a reboot and after a plain restart; the sets end up exactly the stored blocks under the current policy`, async () => {
    const stored = addresses(COUNT - 1);
    stored.splice(COUNT / 2, 0, attacker.ipv4);
    const first = startResponders();
    const batch = await first.set.firewall.blockMany(stored, 3_600_000);
    expect(batch).to.deep.include({ blocked: COUNT });
    expect(await httpStatus(attacker.ns, server4(), 1500)).to.equal(0);

    // A reboot: the kernel forgets everything; the agent starts again.
    await nsExec(rl.lab.server.ns, "nft", ["flush", "ruleset"]);
    expect(await httpStatus(attacker.ns, server4())).to.equal(200);
    const rebooted = startResponders();
    expect(await rebooted.set.firewall.reapply()).to.deep.equal({ restored: COUNT, expired: 0, refused: 0 });
    expect(nftCalls(rebooted.commands)).to.deep.equal(["--version", "-f -"]);
    expect(rebooted.commands[1]!.input).to.match(/^add element inet secarc blocked4 \{ [^\n]+ \}$/m);
    expect(rebooted.commands[1]!.input!.match(/^add element /gm)).to.have.length(1);
    expect(rebooted.commands[1]!.input).to.not.match(/^delete element/m);
    const listed = await rebooted.set.firewall.list();
    expect(listed).to.have.length(COUNT);
    const attackerBlock = listed.find((b) => b.ip === attacker.ipv4);
    expect(attackerBlock?.timeLeftMs).to.be.within(3_000_000, 3_600_000);
    expect(await httpStatus(attacker.ns, server4(), 1500)).to.equal(0);

    // A plain restart (the sets still full), with an element nobody stored and
    // one stored address now allow-listed: both are gone afterwards, in one transaction.
    expect((await nsExec(rl.lab.server.ns, "nft", ["add", "element", "inet", "secarc", "blocked4", "{ 192.0.2.99 }"])).code).to.equal(0);
    const allowed = stored[7]!;
    const restarted = startResponders({ firewall: { allowlist: [allowed] } });
    expect(await restarted.set.firewall.reapply()).to.deep.equal({ restored: COUNT - 1, expired: 0, refused: 1 });
    expect(nftCalls(restarted.commands)).to.deep.equal(["--version", "-f -"]);
    const after = await restarted.set.firewall.list();
    expect(after).to.have.length(COUNT - 1);
    expect(after.some((b) => b.ip === "192.0.2.99")).to.equal(false);
    expect(after.some((b) => b.ip === allowed)).to.equal(false);
    expect(await httpStatus(attacker.ns, server4(), 1500)).to.equal(0);
    const chain = (await nsExec(rl.lab.server.ns, "nft", ["list", "chain", "inet", "secarc", "input"])).stdout;
    expect(chain.split("\n").filter((l) => /\bdrop$/.test(l.trim()))).to.have.length(2);
  });
});
