// Link benchmark: a controller in its own process, and the load in another:
// thousands of concurrent mTLS streams (one HTTP/2 connection each), played
// by one Go process (LINK_BENCH_LOAD=go, the default: bench/go-load) or by
// this process's Node fleet in a worker thread (LINK_BENCH_LOAD=node).
// Prints the link figures of issue 17's table at fleet scale beside their
// targets: the time for all agents to connect, controller RSS with all of
// them connected, alerts/s stored and acked from 1,000 agents (median of
// LINK_BENCH_BURSTS bursts, default 3), RSS after those alerts and at rest,
// and the time for all agents to come back after a controller restart. The
// flood row (fairness) is bench/link-flood-bench.ts. See bench/README.md.
//
//   node --import tsx --expose-gc bench/link-bench.ts          # 10,000 agents (the table's figures)
//   LINK_BENCH_AGENTS=1000 node --import tsx --expose-gc bench/link-bench.ts
//   LINK_BENCH_CONTROLLER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" ...   # profile the controller
//   LINK_BENCH_CONTROLLER_ARGS="--heapsnapshot-signal=SIGUSR1" LINK_BENCH_SNAPSHOT=1 ...   # heap snapshot with all agents connected
//   LINK_BENCH_ONLY=connect ...   # the connect rows only
//   LINK_BENCH_ONLY=restart ...   # the connect and restart rows (no bursts)
//   LINK_BENCH_LATER_S=30,60 ...  # readings of the RSS at rest after the alerts (default 60; the row is the last)
import type { ControllerProcess } from "../test/support/controller-process.js";
import { median, printRows, type BenchRow } from "./bench-rows.js";
import { openBenchLoad } from "./link-load-go.js";
import type { WorkerFleet } from "./link-load-workers.js";
import { controllerMemory, cpuSeconds, createLinkBenchSetup, fdLimit, loadAverage, seconds, sleep, type LinkBenchSetup } from "./link-setup.js";

const TOTAL = Number(process.env.LINK_BENCH_AGENTS ?? "10000");
const ALERT_AGENTS = Math.min(1_000, TOTAL);
const ALERTS_PER_AGENT = 30;
const BURSTS = Math.max(1, Number(process.env.LINK_BENCH_BURSTS ?? "3"));
const DEADLINE_MS = Number(process.env.LINK_BENCH_DEADLINE_S ?? "1200") * 1000;

const started = Date.now();
const deadline = setTimeout(() => {
  process.stdout.write(`link bench: deadline of ${DEADLINE_MS / 1000} s reached; figures above are partial\n`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

const out = (line: string) => process.stdout.write(`${line}\n`);
const atScale = TOTAL === 10_000;
const scale = atScale ? "" : ` (at ${TOTAL} agents, not the table's 10,000)`;
const rows: BenchRow[] = [];
let setup: LinkBenchSetup | undefined;
let controller: ControllerProcess | undefined;
let fleet: WorkerFleet | undefined;
/** The process whose CPU is the load's: the Go load's, or this one (its worker thread). */
let loadPid: number | "self" = "self";

/** Every agent connects (200 handshakes in flight); then the controller's RSS with all of them connected. */
async function connectAll(f: WorkerFleet, c: ControllerProcess, rest: { rss: number }): Promise<void> {
  const t = Date.now();
  const cpu = { controller: cpuSeconds(c.pid), load: cpuSeconds(loadPid) };
  await f.connectAll(120_000 + TOTAL * 20, Number(process.env.LINK_BENCH_IN_FLIGHT ?? "200"));
  const connectMs = Date.now() - t;
  out(`  ${f.welcomed()} agents connected (Hello→Welcome) in ${seconds(connectMs)} s; ${f.failed()} connects ended before their Welcome and were retried; ${cpuLine(c, cpu)}`);
  for (const line of f.endReasons()) out(`    streams ended: ${line}`);
  const times = f.connectTimes();
  if (times) out(`    ${times}`);
  rows.push({ figure: `${TOTAL} agents connecting at once`, measured: `${seconds(connectMs)} s`, target: "< 20 s", met: atScale ? connectMs < 20_000 : undefined });
  await sleep(1_000);
  const full = await controllerMemory(c);
  const perAgent = ((full.rss - rest.rss) * 1024) / TOTAL;
  out(`  controller RSS ${full.rss.toFixed(1)} MiB = ${perAgent.toFixed(1)} KiB per agent above rest (after GC: ${full.parts})`);
  rows.push({
    figure: `controller RSS, ${TOTAL} agents connected`,
    measured: `${full.rss.toFixed(0)} MiB (${perAgent.toFixed(0)} KiB per agent; V8 heap ${full.heap.toFixed(0)} MiB)`,
    target: "< 1,024 MiB (< 85 KiB per agent)",
    met: perAgent < 85 && (!atScale || full.rss < 1_024),
  });
}

/** CPU used since `from` by the controller and by this (load) process, per agent. */
function cpuLine(c: ControllerProcess, from: { controller: number; load: number }): string {
  const controller = cpuSeconds(c.pid) - from.controller;
  const load = cpuSeconds(loadPid) - from.load;
  const ms = (s: number) => ((s * 1000) / TOTAL).toFixed(2);
  return `CPU: controller ${controller.toFixed(1)} s (${ms(controller)} ms per agent), load process ${load.toFixed(1)} s (${ms(load)} ms per agent), load average ${loadAverage()}`;
}

/** BURSTS times: ALERT_AGENTS agents each send ALERTS_PER_AGENT at once; the time until every one is acked. */
async function bursts(f: WorkerFleet, c: ControllerProcess): Promise<number> {
  const burst = ALERT_AGENTS * ALERTS_PER_AGENT;
  const rates: number[] = [];
  for (let i = 1; i <= BURSTS; i += 1) {
    const load = loadAverage();
    const t = Date.now();
    const cpu = { load: cpuSeconds(loadPid), controller: cpuSeconds(c.pid) };
    await f.burst(ALERT_AGENTS, ALERTS_PER_AGENT, 300_000);
    const ms = Date.now() - t;
    rates.push(Math.round(burst / (ms / 1000)));
    const used = `CPU: controller ${(cpuSeconds(c.pid) - cpu.controller).toFixed(1)} s, load process ${(cpuSeconds(loadPid) - cpu.load).toFixed(1)} s`;
    out(`  burst ${i}/${BURSTS} (load average ${load}): ${burst} alerts from ${ALERT_AGENTS} agents stored and acked in ${seconds(ms)} s = ${rates.at(-1)} alerts/s (${used})`);
    if (i === 1) {
      const after = await controllerMemory(c);
      out(`  controller RSS after the first ${burst} alerts (after GC) ${after.rss.toFixed(1)} MiB (${after.parts})`);
      rows.push({ figure: `controller RSS after ${burst} alerts`, measured: `${after.rss.toFixed(0)} MiB`, target: "< 1,100 MiB", met: atScale ? after.rss < 1_100 : undefined });
    }
    await sleep(1_000);
  }
  const rate = median(rates);
  rows.push({
    figure: `alerts stored and acked, ${ALERT_AGENTS} agents`,
    measured: `${rate}/s${BURSTS > 1 ? ` (median of ${BURSTS}: ${rates.join(", ")})` : ""}`,
    target: "≥ 30,000/s (synchronous FULL, ack after commit)",
    met: rate >= 30_000,
  });
  await sleep(4_000);
  const atRest = await controllerMemory(c);
  out(`  controller RSS at rest 5 s after the alerts (after GC) ${atRest.rss.toFixed(1)} MiB (${atRest.parts})`);
  // Later readings at rest (LINK_BENCH_LATER_S, default 60): V8 gives the bursts' pages back only some seconds after the allocation rate drops; the row is the last one.
  let waited = 5;
  let last = atRest;
  for (const later of (process.env.LINK_BENCH_LATER_S ?? "60").split(",").map(Number).filter((n) => n > waited)) {
    await sleep((later - waited) * 1_000);
    waited = later;
    last = await controllerMemory(c);
    out(`  controller RSS at rest ${later} s after the alerts (after GC) ${last.rss.toFixed(1)} MiB (${last.parts})`);
  }
  const when = waited === 5 ? "" : ` (${waited} s after; ${atRest.rss.toFixed(0)} MiB 5 s after)`;
  rows.push({ figure: "controller RSS at rest after the alerts", measured: `${last.rss.toFixed(0)} MiB${when}`, target: "< 1,024 MiB", met: atScale ? last.rss < 1_024 : undefined });
  return BURSTS * burst;
}

/** SIGTERM, a new controller on the same port and store; every agent reconnects with its backoff. */
async function restart(s: LinkBenchSetup, f: WorkerFleet, c: ControllerProcess): Promise<ControllerProcess> {
  f.setReconnect(true);
  const t = Date.now();
  c.kill("SIGTERM");
  await c.stopped;
  const stoppedIn = Date.now() - t;
  const next = await s.startController(c.port);
  const upIn = Date.now() - t;
  const resumedBefore = f.resumed();
  const failedBefore = f.failed();
  const cpu = { controller: cpuSeconds(next.pid), load: cpuSeconds(loadPid) };
  await f.until(() => f.welcomed() >= TOTAL, `${TOTAL} agents to reconnect`, 120_000 + TOTAL * 20);
  const backMs = Date.now() - t;
  const closed = c.closedInMs();
  out(`  restart: old controller stopped in ${seconds(stoppedIn)} s${closed === undefined ? "" : ` (its own close took ${seconds(closed)} s; the rest is this busy process noticing the exit)`}, new one listening after ${seconds(upIn)} s; all ${TOTAL} agents back ${seconds(backMs)} s after the stop began (${f.resumed() - resumedBefore} TLS sessions resumed; ${f.failed() - failedBefore} connects failed on the way and were retried); from listening to all back: ${cpuLine(next, cpu)}`);
  const times = f.connectTimes();
  if (times) out(`    ${times}`);
  rows.push({ figure: `all ${TOTAL} back after a controller restart`, measured: `${seconds(backMs)} s`, target: "< 30 s", met: atScale ? backMs < 30_000 : undefined });
  f.setReconnect(false);
  return next;
}

async function main(): Promise<void> {
  const t = Date.now();
  setup = await createLinkBenchSetup(TOTAL, "secarc-link-bench-", { slots: false });
  const load = await openBenchLoad("LINK_BENCH_LOAD", setup.pki, setup.dir, 1);
  fleet = load.fleet;
  loadPid = load.pid;
  out(`link bench: ${TOTAL} agents, the load in ${load.description}; open-file limit ${fdLimit()} here; load average ${loadAverage()}`);
  out(`  ${TOTAL} agent certificates and client TLS contexts made in ${seconds(Date.now() - t)} s (once; reused across reconnects)`);
  controller = await setup.startController(0);
  await fleet.setEndpoints([controller.port]);
  await sleep(300);
  const rest = await controllerMemory(controller);
  out(`  controller pid ${controller.pid}, RSS at rest ${rest.rss.toFixed(1)} MiB (${rest.parts})`);
  await connectAll(fleet, controller, rest);
  if (process.env.LINK_BENCH_SNAPSHOT) {
    controller.kill("SIGUSR1");
    await sleep(15_000);
    out("  heap snapshot requested (SIGUSR1) in the controller's working directory");
  }
  // LINK_BENCH_ONLY=connect stops after the connect rows (to profile or compare them alone).
  // LINK_BENCH_ONLY=restart skips the bursts (the connect and restart rows only).
  const connectOnly = process.env.LINK_BENCH_ONLY === "connect";
  const expected = connectOnly || process.env.LINK_BENCH_ONLY === "restart" ? 0 : await bursts(fleet, controller);
  if (!connectOnly) controller = await restart(setup, fleet, controller);
  await fleet.closeAll();
  controller.kill("SIGTERM");
  await controller.stopped;
  const stored = await setup.storedAlerts();
  out(`  check: ${stored} alerts in the store (expected ${expected}), ${fleet.rejects()} rejected; total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  printRows(`link figures${scale}`, rows);
  if (stored !== expected || fleet.rejects() > 0) throw new Error("stored alert count differs from the acked count");
}

main()
  .catch((err: unknown) => {
    out(`link bench failed: ${(err as Error).stack ?? String(err)}`);
    for (const line of fleet?.endReasons() ?? []) out(`  streams ended: ${line}`);
    const log = controller?.log ?? [];
    if (log.length > 0) out(`  the controller's last log lines (${log.length} in all):\n${log.slice(-12).map((l) => `    ${l.slice(0, 300)}`).join("\n")}`);
    if (rows.length > 0) printRows(`link figures so far${scale}`, rows);
    process.exitCode = 1;
  })
  .finally(async () => {
    fleet?.setReconnect(false);
    await fleet?.closeAll();
    controller?.kill("SIGKILL");
    setup?.remove();
    clearTimeout(deadline);
    setTimeout(() => process.exit(), 200).unref();
  });
