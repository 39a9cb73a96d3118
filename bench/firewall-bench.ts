// `npm run bench -- firewall`: blocks 10,000 distinct addresses through the
// firewall responder in a fresh network namespace (real nftables), prints
// blocks/s for one batch transaction, for single BLOCK_IP actions with the
// 10,000 present, and for re-applying them all at agent start; prints the
// ruleset size (the rule count stays 2: one set lookup per family); then
// shows that a packet from a blocked address is dropped with 10,000 entries
// present while a non-blocked client still gets through. The re-apply figure
// is 10,000 stored blocks brought back after a reboot through the agent's
// start-up path (new responder set, state file read, policy checked, one
// `nft -f`). Needs root. Exits
// non-zero when a check fails. The namespaces are removed at the end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../common/log.js";
import { respondersConfigSchema } from "../agent/responders/config.js";
import { createProgramRunner, type Command, type ProgramRunner } from "../agent/responders/program-runner.js";
import { createNetnsRunner } from "../test/support/netns-runner.js";
import { createResponderSet } from "../agent/responders/registry.js";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { action, createResponderLab, ipTarget } from "../test/support/responder-lab.js";
import { hostUrl, httpStatus, nsExec, type LabHost } from "../test/support/netns.js";
import { startNginx } from "../test/support/nginx.js";

const BATCH = 10_000;
const SINGLE = 200;

/** Distinct addresses in 198.18.0.0/15 (the benchmarking range), skipping .0 and .255. */
function benchAddresses(count: number, offset: number): string[] {
  const out: string[] = [];
  for (let i = offset; out.length < count; i += 1) {
    const third = Math.floor(i / 254);
    const fourth = (i % 254) + 1;
    out.push(`198.${18 + Math.floor(third / 256)}.${third % 256}.${fourth}`);
  }
  return out;
}

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString("en-US")}/s`;
}

let failures = 0;
function check(ok: boolean, what: string): void {
  process.stdout.write(`${ok ? "ok  " : "FAIL"} ${what}\n`);
  if (!ok) failures += 1;
}

const rl = await createResponderLab(2);
const [attacker, other] = rl.lab.clients as [LabHost, LabHost];
const nginx = await startNginx(rl.lab.server.ns);
try {
  const set = rl.responders();
  const server4 = hostUrl(rl.lab.server.ipv4);
  check((await httpStatus(attacker.ns, server4)) === 200, "attacker reaches nginx before the block");

  // One batch: 9,999 benchmark addresses with the attacker's in the middle.
  const addresses = benchAddresses(BATCH - 1, 0);
  addresses.splice(BATCH / 2, 0, attacker.ipv4);
  let t = performance.now();
  const batch = await set.firewall.blockMany(addresses, 3_600_000);
  const batchMs = performance.now() - t;
  check(batch.blocked === BATCH && batch.error === undefined, `batch: ${batch.blocked} blocked${batch.error ? ` (${batch.error})` : ""}`);
  process.stdout.write(`batch of ${BATCH.toLocaleString("en-US")} in one nft transaction: ${batchMs.toFixed(0)} ms → ${rate(BATCH, batchMs)}\n`);

  // Single BLOCK_IP actions through the responder, with the 10,000 present.
  const block = set.responders.get(Answer.BLOCK_IP)!;
  const singles = benchAddresses(SINGLE, BATCH + 1000);
  t = performance.now();
  let done = 0;
  for (const ip of singles) {
    const outcome = await block.execute(action(Answer.BLOCK_IP, ipTarget(ip), { durationMs: 3_600_000 }));
    if (outcome.status === ResultStatus.DONE) done += 1;
  }
  const singleMs = performance.now() - t;
  check(done === SINGLE, `single actions: ${done}/${SINGLE} done`);
  process.stdout.write(`${SINGLE} single BLOCK_IP actions (one nft process each, via ip netns exec): ${singleMs.toFixed(0)} ms → ${rate(SINGLE, singleMs)}, ${(singleMs / SINGLE).toFixed(1)} ms per action\n`);

  const listed = await set.firewall.list();
  const ruleset = (await nsExec(rl.lab.server.ns, "nft", ["list", "ruleset"])).stdout;
  const chain = (await nsExec(rl.lab.server.ns, "nft", ["list", "chain", "inet", "secarc", "input"])).stdout;
  const rules = chain.split("\n").filter((l) => /\b(drop|accept)$/.test(l.trim())).length;
  process.stdout.write(
    `ruleset: ${listed.length.toLocaleString("en-US")} set elements, ${rules} rules in chain input, ${(ruleset.length / 1024).toFixed(0)} KiB as text\n`,
  );
  check(listed.length === BATCH + SINGLE, `${BATCH + SINGLE} elements listed`);
  check(rules === 2, "rule count stays 2 (set lookup, not one rule per address)");

  // Drop with 10,000+ entries present.
  t = performance.now();
  const blockedStatus = await httpStatus(attacker.ns, server4, 1500);
  check(blockedStatus === 0, `blocked attacker ${attacker.ipv4}: no answer (curl gave ${blockedStatus} after ${(performance.now() - t).toFixed(0)} ms)`);
  check((await httpStatus(other.ns, server4)) === 200, `non-blocked client ${other.ipv4}: HTTP 200`);

  // Agent restart after a reboot, through the agent's start-up path: a new
  // responder set reads the stored blocks (exactly 10,000, in a state
  // directory of their own) and re-applies them, with the host's real
  // addresses in the block policy as the agent has them.
  const stateDir = mkdtempSync(join(tmpdir(), "secarc-bench-reapply-"));
  try {
    const commands: Command[] = [];
    const netns = createNetnsRunner(rl.lab.server.ns, createProgramRunner());
    const runner: ProgramRunner = {
      run(command) {
        commands.push(command);
        return netns.run(command);
      },
    };
    const agentSet = () =>
      createResponderSet(respondersConfigSchema.parse({}), { logger: silentLogger(), now: Date.now, controllerAddresses: [rl.controller4, rl.controller6], stateDir, runner });
    const stored = await agentSet().firewall.blockMany(addresses, 3_600_000);
    check(stored.blocked === BATCH, `${stored.blocked} blocks stored for the restart`);
    await nsExec(rl.lab.server.ns, "nft", ["flush", "ruleset"]);
    check((await httpStatus(attacker.ns, server4)) === 200, "after the reboot (ruleset flushed) the attacker gets through");
    commands.length = 0;
    t = performance.now();
    const reapplied = await agentSet().firewall.reapply();
    const reapplyMs = performance.now() - t;
    const transactions = commands.filter((c) => c.file === "nft" && c.args.join(" ") === "-f -").length;
    const others = commands.filter((c) => c.file === "nft" && c.args.join(" ") !== "-f -" && c.args.join(" ") !== "--version").length;
    check(reapplied.restored === BATCH, `re-applied ${reapplied.restored} blocks`);
    check(transactions === 1 && others === 0, `one nft transaction (${transactions} nft -f, ${others} other nft changes)`);
    process.stdout.write(
      `re-apply ${BATCH.toLocaleString("en-US")} blocks at agent start: ${reapplyMs.toFixed(0)} ms (${transactions === 1 ? "one nft transaction" : `${transactions} nft transactions`}) → ${rate(BATCH, reapplyMs)}\n`,
    );
    check((await httpStatus(attacker.ns, server4, 1500)) === 0, "attacker dropped again after re-apply");
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
} finally {
  await nginx.stop();
  await rl.cleanup();
}
process.stdout.write(failures === 0 ? "firewall bench: all checks passed\n" : `firewall bench: ${failures} check(s) failed\n`);
process.exitCode = failures === 0 ? 0 : 1;
