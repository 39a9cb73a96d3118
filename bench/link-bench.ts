// Link benchmark: a controller in its own process, and this process as the
// load: thousands of concurrent mTLS streams (one HTTP/2 connection each).
// Prints every link figure of issue 17's table beside its target:
// controller RSS with all agents connected, the time for all to connect,
// alerts/s stored and acked from 1,000 agents, RSS after those alerts and
// at rest, one agent flooding (its acks/s, the other agents' ack latency
// meanwhile), and the time for all agents to come back after a controller
// restart. See bench/README.md.
//
//   node --import tsx --expose-gc bench/link-bench.ts          # 10,000 agents (the table's figures)
//   LINK_BENCH_AGENTS=1000 node --import tsx --expose-gc bench/link-bench.ts
//   LINK_BENCH_CONTROLLER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" ...   # profile the controller
//   LINK_BENCH_CONTROLLER_ARGS="--heapsnapshot-signal=SIGUSR1" LINK_BENCH_SNAPSHOT=1 ...   # heap snapshot with all agents connected
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { startControllerProcess, type ControllerProcess } from "../test/support/controller-process.js";
import { formatRows, percentile, type BenchRow } from "./bench-rows.js";
import { createBenchPki } from "./link-certs.js";
import { createLoadFleet, type LoadSlot } from "./link-load-fleet.js";

const TOTAL = Number(process.env.LINK_BENCH_AGENTS ?? "10000");
const ALERT_AGENTS = Math.min(1_000, TOTAL - 1);
const ALERTS_PER_AGENT = 30;
const FLOOD = 20_000;
const OTHERS = Math.min(10, TOTAL - 1);
const OTHER_ALERTS = 100;
const OTHER_PERIOD_MS = 10;
const DEADLINE_MS = Number(process.env.LINK_BENCH_DEADLINE_S ?? "900") * 1000;

const started = Date.now();
const deadline = setTimeout(() => {
  process.stdout.write(`link bench: deadline of ${DEADLINE_MS / 1000} s reached; figures above are partial\n`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

const out = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(1);
const rssMiB = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
};
const fdLimit = (): string => /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? "?";
const scale = TOTAL === 10_000 ? "" : ` (at ${TOTAL} agents, not the table's 10,000)`;

const dir = mkdtempSync(join(tmpdir(), "secarc-link-bench-"));
let controller: ControllerProcess | undefined;
const rows: BenchRow[] = [];
const fleet = createLoadFleet();

async function controllerRss(c: ControllerProcess): Promise<{ rss: number; heap: number }> {
  const mem = await c.memoryUsage(); // after a GC (--expose-gc)
  return { rss: rssMiB(c.pid), heap: mem.heapUsed / 1_048_576 };
}

async function main(): Promise<void> {
  out(`link bench: ${TOTAL} agents, one load process; open-file limit ${fdLimit()} here`);
  let t = Date.now();
  const pki = await createBenchPki(TOTAL);
  const slots: LoadSlot[] = pki.agents.map((a) => fleet.slot(a.name, createSecureContext({ ca: pki.ca.cert, cert: a.cert, key: a.key })));
  out(`  ${TOTAL} agent certificates and client TLS contexts made in ${seconds(Date.now() - t)} s (once; reused across reconnects)`);
  writeFileSync(join(dir, "ca.pem"), pki.ca.cert);
  writeFileSync(join(dir, "controller.pem"), pki.controller.cert);
  writeFileSync(join(dir, "controller-key.pem"), pki.controller.key, { mode: 0o600 });
  const config = (port: number) => ({
    listen: { host: "127.0.0.1", port },
    tls: { ca: join(dir, "ca.pem"), cert: join(dir, "controller.pem"), key: join(dir, "controller-key.pem"), ticketKeyFile: join(dir, "tls-tickets.key") },
    store: { path: join(dir, "controller.db") },
    link: { heartbeatInterval: "30s" },
    log: { level: "warn" as const },
  });
  const nodeArgs = ["--expose-gc", ...(process.env.LINK_BENCH_CONTROLLER_ARGS?.split(" ").filter(Boolean) ?? [])];
  controller = await startControllerProcess({ config: config(0), nodeArgs });
  const port = controller.port;
  fleet.setPort(port);
  await sleep(300);
  const rest = await controllerRss(controller);
  out(`  controller pid ${controller.pid}, RSS at rest ${rest.rss.toFixed(1)} MiB`);

  // 1. Every agent connects (the load process keeps 200 handshakes in flight).
  t = Date.now();
  await fleet.connectAll(slots, 120_000 + TOTAL * 20);
  const connectMs = Date.now() - t;
  out(`  ${fleet.welcomed()} agents connected (Hello→Welcome) in ${seconds(connectMs)} s; ${fleet.failed()} connects ended before their Welcome and were retried`);
  rows.push({ figure: `${TOTAL} agents connecting at once`, measured: `${seconds(connectMs)} s`, target: "< 20 s", met: TOTAL === 10_000 ? connectMs < 20_000 : undefined });
  await sleep(1_000);
  const full = await controllerRss(controller);
  const perAgent = ((full.rss - rest.rss) * 1024) / TOTAL;
  out(`  controller RSS ${full.rss.toFixed(1)} MiB = ${perAgent.toFixed(1)} KiB per agent above rest (V8 heap used after GC ${full.heap.toFixed(1)} MiB)`);
  rows.push({
    figure: `controller RSS, ${TOTAL} agents connected`,
    measured: `${full.rss.toFixed(0)} MiB (${perAgent.toFixed(0)} KiB per agent; V8 heap ${full.heap.toFixed(0)} MiB)`,
    target: "< 1,024 MiB (< 85 KiB per agent)",
    met: perAgent < 85 && (TOTAL !== 10_000 || full.rss < 1_024),
  });
  if (process.env.LINK_BENCH_SNAPSHOT) {
    controller.kill("SIGUSR1");
    await sleep(15_000);
    out("  heap snapshot requested (SIGUSR1) in the controller's working directory");
  }

  // 2. ALERT_AGENTS agents each send a burst; count until every one is acked.
  const burst = ALERT_AGENTS * ALERTS_PER_AGENT;
  t = Date.now();
  const burstAcks = slots.slice(0, ALERT_AGENTS).map((slot) => fleet.sendAlerts(slot, ALERTS_PER_AGENT));
  await fleet.until(() => burstAcks.every((done) => done()), `${burst} alert acks`, 120_000);
  const burstMs = Date.now() - t;
  const burstRate = Math.round(burst / (burstMs / 1000));
  out(`  ${burst} alerts from ${ALERT_AGENTS} agents stored and acked in ${seconds(burstMs)} s = ${burstRate} alerts/s`);
  rows.push({ figure: `alerts stored and acked, ${ALERT_AGENTS} agents`, measured: `${burstRate}/s`, target: "≥ 30,000/s (synchronous FULL, ack after commit)", met: burstRate >= 30_000 });
  const afterAlerts = await controllerRss(controller);
  rows.push({ figure: `controller RSS after ${burst} alerts`, measured: `${afterAlerts.rss.toFixed(0)} MiB`, target: "< 1,100 MiB", met: TOTAL === 10_000 ? afterAlerts.rss < 1_100 : undefined });

  // 3. One agent floods while OTHERS agents each send OTHER_ALERTS at a steady pace.
  const flooder = slots[ALERT_AGENTS]!;
  const others = slots.slice(0, OTHERS);
  t = Date.now();
  const floodDone = fleet.sendAlerts(flooder, FLOOD);
  const latencies: number[] = [];
  const paced = others.map((slot, i) => fleet.sendPaced(slot, OTHER_ALERTS, OTHER_PERIOD_MS, (i * OTHER_PERIOD_MS) / OTHERS, latencies));
  await fleet.until(floodDone, `${FLOOD} flood acks`, 120_000);
  const floodMs = Date.now() - t;
  await Promise.all(paced);
  const floodRate = Math.round(FLOOD / (floodMs / 1000));
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  out(`  one agent flooding ${FLOOD} alerts: acked in ${seconds(floodMs)} s = ${floodRate} acks/s; ${latencies.length} alerts of ${OTHERS} other agents meanwhile: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
  rows.push({ figure: `one agent flooding ${FLOOD} alerts: its acks/s`, measured: `${floodRate}/s`, target: "≥ 20,000/s", met: floodRate >= 20_000 });
  rows.push({ figure: "meanwhile another agent's ack latency", measured: `p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`, target: "p99 < 50 ms (fair share per agent)", met: p99 < 50 });

  await sleep(5_000);
  const atRest = await controllerRss(controller);
  out(`  controller RSS at rest 5 s after the alerts (after GC) ${atRest.rss.toFixed(1)} MiB (V8 heap used ${atRest.heap.toFixed(1)} MiB)`);
  rows.push({ figure: "controller RSS at rest after the alerts", measured: `${atRest.rss.toFixed(0)} MiB`, target: "< 1,024 MiB", met: TOTAL === 10_000 ? atRest.rss < 1_024 : undefined });

  // 4. Restart: SIGTERM, a new process on the same port, every agent reconnects with backoff.
  fleet.setReconnect(true);
  t = Date.now();
  controller.kill("SIGTERM");
  await controller.stopped;
  const stoppedIn = Date.now() - t;
  controller = await startControllerProcess({ config: config(port), nodeArgs });
  const upIn = Date.now() - t;
  fleet.resetResumed();
  await fleet.until(() => fleet.welcomed() >= TOTAL, `${TOTAL} agents to reconnect`, 120_000 + TOTAL * 20);
  const backMs = Date.now() - t;
  out(`  restart: old controller stopped in ${seconds(stoppedIn)} s, new one listening after ${seconds(upIn)} s; all ${TOTAL} agents back ${seconds(backMs)} s after the stop began (${fleet.resumed()} TLS sessions resumed)`);
  rows.push({ figure: `all ${TOTAL} back after a controller restart`, measured: `${seconds(backMs)} s`, target: "< 30 s", met: TOTAL === 10_000 ? backMs < 30_000 : undefined });
  fleet.setReconnect(false);
  fleet.closeAll();
  controller.kill("SIGTERM");
  await controller.stopped;

  const expected = burst + FLOOD + OTHERS * OTHER_ALERTS;
  const store = openSqliteStore(join(dir, "controller.db"));
  const stored = (store.db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number }).n;
  store.close();
  out(`  check: ${stored} alerts in the store (expected ${expected}), ${fleet.rejects()} rejected; total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  out(`\nlink figures${scale}:\n${formatRows(rows)}`);
  if (stored !== expected || fleet.rejects() > 0) throw new Error("stored alert count differs from the acked count");
}

main()
  .catch((err: unknown) => {
    out(`link bench failed: ${(err as Error).stack ?? String(err)}`);
    if (rows.length > 0) out(`\nlink figures so far${scale}:\n${formatRows(rows)}`);
    process.exitCode = 1;
  })
  .finally(() => {
    fleet.setReconnect(false);
    fleet.closeAll();
    controller?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(deadline);
    setTimeout(() => process.exit(), 200).unref();
  });
