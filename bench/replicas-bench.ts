// Replicas benchmark (issue 15, acceptance 5): a throw-away PostgreSQL
// cluster (testing/postgres.ts, fsync on), two controller replicas on it in
// child processes, and the load in one Go process (REPLICAS_BENCH_LOAD=go,
// the default: bench/go-load, link-load-go.ts) or in
// REPLICAS_BENCH_LOAD_WORKERS Node worker threads (REPLICAS_BENCH_LOAD=node,
// default 4 threads, link-load-workers.ts; agents are processes of their
// own, and one event loop cannot play 10,000 of them through a reconnect
// herd): 10,000 agents that each
// know both endpoints and reconnect as agents do (bench/link-load-fleet.ts:
// the agent's reconnect plan, backoff with full jitter, connect timeout, an
// outbox of unacked alerts resent after every Welcome). Prints beside their
// targets: the time for all agents to connect over the two replicas, each
// replica's RSS, alerts/s stored into PostgreSQL and acked (1,000 agents,
// median of REPLICAS_BENCH_BURSTS bursts, default 3), and, with 1,000
// agents sending 1,000 alerts/s through it, a `kill -9` of one replica: the
// time until all its agents are back on the survivor, and whether every
// alert sent is in PostgreSQL once. See bench/README.md.
//
//   node --import tsx --expose-gc bench/replicas-bench.ts          # 10,000 agents (the figures)
//   REPLICAS_BENCH_AGENTS=1000 node --import tsx --expose-gc bench/replicas-bench.ts
import postgres from "postgres";
import type { ControllerProcess } from "../test/support/controller-process.js";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";
import { median, printRows, type BenchRow } from "./bench-rows.js";
import { openBenchLoad } from "./link-load-go.js";
import type { WorkerFleet } from "./link-load-workers.js";
import { controllerMemory, cpuSeconds, createLinkBenchSetup, fdLimit, loadAverage, seconds, sleep, type LinkBenchSetup } from "./link-setup.js";

const TOTAL = Number(process.env.REPLICAS_BENCH_AGENTS ?? "10000");
const ALERT_AGENTS = Math.min(1_000, TOTAL);
const ALERTS_PER_AGENT = 30;
const BURSTS = Math.max(1, Number(process.env.REPLICAS_BENCH_BURSTS ?? "3"));
/** The Node load's worker threads (link-load-workers.ts): agents are processes of their own, and one event loop cannot play 10,000 of them through a reconnect herd. */
const LOAD_WORKERS = Math.max(1, Number(process.env.REPLICAS_BENCH_LOAD_WORKERS ?? "4"));
/** Each replica's pool (store.postgres.poolSize, its default). */
const POOL_SIZE = 10;
/** Through the kill, ALERT_AGENTS agents send one alert a second each, from FLOOD_LEAD_MS before it until all agents are back. */
const FLOOD_LEAD_MS = 5_000;
const FLOOD_TICK_MS = 100;
const DEADLINE_MS = Number(process.env.REPLICAS_BENCH_DEADLINE_S ?? "2700") * 1000;
/** How long the connect and the return after the kill may take before the bench gives up: 15 minutes at 10,000 agents (on a loaded 2-core machine the connect alone took over 5). */
const PHASE_TIMEOUT_MS = 120_000 + TOTAL * 80;

const started = Date.now();
const deadline = setTimeout(() => {
  process.stdout.write(`replicas bench: deadline of ${DEADLINE_MS / 1000} s reached; figures above are partial\n`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

const out = (line: string) => process.stdout.write(`${line}\n`);
const atScale = TOTAL === 10_000;
const scale = atScale ? "" : ` (at ${TOTAL} agents, not the issue's 10,000)`;
const rows: BenchRow[] = [];
let cluster: PgCluster | undefined;
let setup: LinkBenchSetup | undefined;
let fleet: WorkerFleet | undefined;
/** The process whose CPU is the load's: the Go load's, or this one (its worker threads). */
let loadPid: number | "self" = "self";
const replicas: ControllerProcess[] = [];

interface Replica {
  name: string;
  process: ControllerProcess;
  restRss: number;
}

/** Every agent connects (200 handshakes in flight), each to the first endpoint of its own order; then each replica's RSS. */
async function connectAll(f: WorkerFleet, both: Replica[]): Promise<void> {
  const t = Date.now();
  await f.connectAll(PHASE_TIMEOUT_MS);
  const connectMs = Date.now() - t;
  const split = both.map((r) => `${f.welcomedOn(r.process.port)} on ${r.name}`).join(", ");
  out(`  ${f.welcomed()} agents connected (Hello→Welcome) in ${seconds(connectMs)} s (${split}); ${f.failed()} connects ended before their Welcome and were retried`);
  for (const line of f.endReasons()) out(`    streams ended: ${line}`);
  const times = f.connectTimes();
  if (times) out(`    ${times}`);
  rows.push({ figure: `${TOTAL} agents connecting at once over 2 replicas`, measured: `${seconds(connectMs)} s (${split})`, target: "< 20 s (one controller's, issue 17)", met: atScale ? connectMs < 20_000 : undefined });
  await sleep(1_000);
  const measured: string[] = [];
  let met = true;
  for (const r of both) {
    const mem = await controllerMemory(r.process);
    const agents = f.welcomedOn(r.process.port);
    const perAgent = ((mem.rss - r.restRss) * 1024) / Math.max(1, agents);
    out(`  replica ${r.name}: RSS ${mem.rss.toFixed(1)} MiB with ${agents} agents = ${perAgent.toFixed(1)} KiB per agent above rest (V8 heap used after GC ${mem.heap.toFixed(1)} MiB)`);
    measured.push(`${r.name} ${mem.rss.toFixed(0)} MiB (${agents} agents, ${perAgent.toFixed(0)} KiB each)`);
    met &&= perAgent < 85;
  }
  rows.push({ figure: `replica RSS, ${TOTAL} agents over 2`, measured: measured.join("; "), target: "< 85 KiB per agent (issue 17)", met });
}

/** BURSTS times: ALERT_AGENTS agents (spread over both replicas) each send ALERTS_PER_AGENT at once; the time until every one is acked. */
async function bursts(f: WorkerFleet, alerting: number): Promise<void> {
  const burst = alerting * ALERTS_PER_AGENT;
  const rates: number[] = [];
  for (let i = 1; i <= BURSTS; i += 1) {
    const load = loadAverage();
    const t = Date.now();
    await f.burst(alerting, ALERTS_PER_AGENT, PHASE_TIMEOUT_MS);
    const ms = Date.now() - t;
    rates.push(Math.round(burst / (ms / 1000)));
    out(`  burst ${i}/${BURSTS} (load average ${load}): ${burst} alerts from ${alerting} agents stored in PostgreSQL and acked in ${seconds(ms)} s = ${rates.at(-1)} alerts/s`);
    await sleep(1_000);
  }
  for (const line of f.endReasons()) out(`    streams ended so far: ${line}`);
  const rate = median(rates);
  rows.push({
    figure: `alerts stored in PostgreSQL and acked, ${alerting} agents over 2 replicas`,
    measured: `${rate}/s${BURSTS > 1 ? ` (median of ${BURSTS}: ${rates.join(", ")})` : ""}`,
    target: "≥ 30,000/s (one controller on SQLite, issue 17)",
    met: rate >= 30_000,
  });
}

/** SIGKILL of `victim` with the flood running; the time until every agent is welcomed on `survivor`, and until every alert is acked. */
async function killOne(f: WorkerFleet, alerting: number, victim: Replica, survivor: Replica): Promise<{ unackedAtKill: number }> {
  const held = f.welcomedOn(victim.process.port);
  const flood = f.flood(alerting, FLOOD_TICK_MS);
  await sleep(FLOOD_LEAD_MS);
  f.setReconnect(true);
  const failedBefore = f.failed();
  const load = loadAverage();
  const unackedAtKill = f.unacked();
  const t = Date.now();
  // Who had the machine's CPU meanwhile: the survivor, or the load (its agents' TLS clients and outboxes, on the same cores).
  const cpuAt = { survivor: cpuSeconds(survivor.process.pid), load: cpuSeconds(loadPid) };
  const resumedAt = f.resumed();
  const cpuSince = () => `CPU since the kill: ${survivor.name} ${(cpuSeconds(survivor.process.pid) - cpuAt.survivor).toFixed(1)} s, load ${(cpuSeconds(loadPid) - cpuAt.load).toFixed(1)} s`;
  victim.process.kill("SIGKILL");
  await victim.process.stopped;
  const progress = setInterval(() => out(`    ${seconds(Date.now() - t)} s after the kill: ${f.welcomedOn(survivor.process.port)} agents on ${survivor.name}, ${f.unacked()} alerts unacked; ${cpuSince()}`), 5_000);
  try {
    await f.until(() => f.welcomedOn(survivor.process.port) >= TOTAL, `all ${TOTAL} agents on ${survivor.name}`, PHASE_TIMEOUT_MS);
  } finally {
    clearInterval(progress);
  }
  const backMs = Date.now() - t;
  const cpuBack = cpuSince();
  flood.stop();
  const retried = f.failed() - failedBefore;
  for (const line of f.endReasons()) out(`    streams ended so far: ${line}`);
  const resumed = `; ${f.resumed() - resumedAt} TLS sessions resumed`;
  out(`  kill -9 of replica ${victim.name} (load average ${load}) holding ${held} agents, ${unackedAtKill} alerts unacked: all ${TOTAL} agents on ${survivor.name} ${seconds(backMs)} s after the kill; ${retried} connects failed on the way (dead endpoint, or no Welcome in time) and were retried${resumed}; ${cpuBack}`);
  rows.push({ figure: "all agents of a replica killed with kill -9 back on the survivor", measured: `${seconds(backMs)} s (${held} agents; ${retried} connects retried; ${cpuBack})`, target: "< 60 s", met: atScale ? backMs < 60_000 : undefined });
  const tAcked = Date.now();
  await f.until(() => f.unacked() === 0, "every alert acked after the kill", PHASE_TIMEOUT_MS);
  const times = f.connectTimes();
  if (times) out(`    ${times}`);
  out(`  every alert acked ${seconds(Date.now() - tAcked)} s after all agents were back`);
  f.setReconnect(false);
  await sleep(1_000);
  const mem = await controllerMemory(survivor.process);
  const perAgent = ((mem.rss - survivor.restRss) * 1024) / TOTAL;
  out(`  survivor ${survivor.name}: RSS ${mem.rss.toFixed(1)} MiB with all ${TOTAL} agents = ${perAgent.toFixed(1)} KiB per agent above rest (V8 heap used after GC ${mem.heap.toFixed(1)} MiB)`);
  rows.push({ figure: `survivor RSS, all ${TOTAL} agents`, measured: `${mem.rss.toFixed(0)} MiB (${perAgent.toFixed(0)} KiB per agent)`, target: "< 85 KiB per agent (issue 17)", met: perAgent < 85 });
  return { unackedAtKill };
}

/** Every alert the fleet sent (all acked by now) is in PostgreSQL exactly once, and nothing else is. */
async function checkStored(f: WorkerFleet, url: string, unackedAtKill: number): Promise<boolean> {
  const ids = await f.issuedIds();
  const distinct = new Set(ids).size;
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const stored = new Set((await sql<Array<{ alert_id: string }>>`SELECT alert_id FROM alerts WHERE agent_id LIKE 'bench-%'`).map((r) => r.alert_id));
    const lost = ids.filter((id) => !stored.has(id)).length;
    const sent = new Set(ids);
    const extra = [...stored].filter((id) => !sent.has(id)).length;
    out(`  check: ${ids.length} alerts sent (${distinct} ids), ${distinct - lost} of them in PostgreSQL, ${stored.size} agent alerts there in all; ${f.rejects()} rejected`);
    const ok = lost === 0 && extra === 0 && distinct === ids.length && f.rejects() === 0;
    rows.push({
      figure: "alerts lost through the kill",
      measured: `${lost} of ${distinct} (${unackedAtKill} were unacked at the kill and resent to the survivor; ${stored.size} in PostgreSQL, each once${extra > 0 ? `; ${extra} not sent by the bench` : ""})`,
      target: "0",
      met: ok,
    });
    return ok;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function main(): Promise<void> {
  let t = Date.now();
  cluster = await startPgCluster();
  const url = await cluster.createDatabase("replicas_bench");
  out(`  PostgreSQL cluster (fsync on) on port ${cluster.port} in ${seconds(Date.now() - t)} s`);
  t = Date.now();
  setup = await createLinkBenchSetup(TOTAL, "secarc-replicas-bench-", { store: { postgres: { url, poolSize: POOL_SIZE } }, slots: false });
  const load = await openBenchLoad("REPLICAS_BENCH_LOAD", setup.pki, setup.dir, LOAD_WORKERS);
  fleet = load.fleet;
  loadPid = load.pid;
  out(`replicas bench: ${TOTAL} agents over 2 replicas on PostgreSQL, the load in ${load.description}; open-file limit ${fdLimit()} here; load average ${loadAverage()}`);
  out(`  ${TOTAL} agent certificates made in ${seconds(Date.now() - t)} s; the load makes its agents' TLS contexts (once; reused across reconnects)`);
  const both: Replica[] = [];
  for (const name of ["A", "B"]) {
    // One after the other: the first one migrates the schema.
    const child = await setup.startController(0, name.toLowerCase());
    replicas.push(child);
    both.push({ name, process: child, restRss: NaN });
  }
  await sleep(300);
  for (const r of both) {
    r.restRss = (await controllerMemory(r.process)).rss;
    out(`  replica ${r.name}: pid ${r.process.pid}, port ${r.process.port}, RSS at rest ${r.restRss.toFixed(1)} MiB`);
  }
  await fleet.setEndpoints(both.map((r) => r.process.port));
  await connectAll(fleet, both);
  await bursts(fleet, ALERT_AGENTS);
  const [victim, survivor] = both as [Replica, Replica];
  const { unackedAtKill } = await killOne(fleet, ALERT_AGENTS, victim, survivor);
  const ok = await checkStored(fleet, url, unackedAtKill);
  out(`  total bench time ${((Date.now() - started) / 1000).toFixed(0)} s; load average ${loadAverage()}`);
  printRows(`replicas figures${scale}`, rows);
  if (!ok) throw new Error("the alerts in PostgreSQL differ from the alerts sent");
}

main()
  .catch((err: unknown) => {
    out(`replicas bench failed: ${(err as Error).stack ?? String(err)}`);
    for (const line of fleet?.endReasons() ?? []) out(`  streams ended: ${line}`);
    for (const [i, r] of replicas.entries()) {
      if (r.log.length > 0) out(`  replica ${"AB"[i]}'s last log lines (${r.log.length} in all):\n${r.log.slice(-12).map((l) => `    ${l.slice(0, 300)}`).join("\n")}`);
    }
    if (rows.length > 0) printRows(`replicas figures so far${scale}`, rows);
    process.exitCode = 1;
  })
  .finally(async () => {
    fleet?.setReconnect(false);
    await fleet?.closeAll();
    for (const r of replicas) r.kill("SIGKILL");
    await Promise.all(replicas.map((r) => r.stopped));
    await cluster?.stop().catch((err: unknown) => out(`  stopping the PostgreSQL cluster failed: ${String(err)}`));
    setup?.remove();
    clearTimeout(deadline);
    setTimeout(() => process.exit(), 200).unref();
  });
