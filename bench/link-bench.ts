// Link benchmark: a controller in its own process, and this process as the
// load: thousands of concurrent mTLS streams (one HTTP/2 connection each).
// Prints agents connected at once, controller RSS per connected agent, the
// time for all agents to reconnect after a controller restart, and alerts/s
// stored and acked end to end. Bounded to under 3 minutes.
//
//   node --import tsx bench/link-bench.ts            # 1,000 then 5,000 agents
//   LINK_BENCH_AGENTS=2000 node --import tsx bench/link-bench.ts
//   LINK_BENCH_CONTROLLER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" ...   # profile the controller
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { newId } from "../common/ids.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { startControllerProcess, type ControllerProcess } from "../test/support/controller-process.js";
import { createBenchPki } from "./link-certs.js";
import { openLoadAgent, type LoadAgent } from "./link-load-agent.js";

const STEPS = (process.env.LINK_BENCH_AGENTS ?? "1000,5000").split(",").map(Number);
const TOTAL = Math.max(...STEPS);
const ALERT_AGENTS = Math.min(1_000, TOTAL);
const ALERTS_PER_AGENT = 30;
const BACKLOG = 10_000;
const CONNECTING_AT_ONCE = 200;
const DEADLINE_MS = 170_000;

const started = Date.now();
const deadline = setTimeout(() => {
  process.stdout.write(`link bench: deadline of ${DEADLINE_MS / 1000} s reached; figures above are partial\n`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

const out = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
};
const fdLimit = (): string => /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? "?";

interface Slot {
  name: string;
  context: SecureContext;
  agent: LoadAgent | undefined;
  welcomed: boolean;
  attempts: number;
  acks: number;
}

const dir = mkdtempSync(join(tmpdir(), "secarc-link-bench-"));
let controller: ControllerProcess | undefined;
let reconnect = false;
const slots: Slot[] = [];
let welcomed = 0;
let acks = 0;

function connect(slot: Slot, port: () => number): void {
  slot.agent = openLoadAgent({
    port: port(),
    secureContext: slot.context,
    name: slot.name,
    onMessage(message: ControllerMessage) {
      if (message.payload.case === "welcome" && !slot.welcomed) {
        slot.welcomed = true;
        slot.attempts = 0;
        welcomed += 1;
      } else if (message.payload.case === "alertAck") {
        slot.acks += 1;
        acks += 1;
      }
    },
    onEnd() {
      if (slot.welcomed) welcomed -= 1;
      slot.welcomed = false;
      slot.agent = undefined;
      if (!reconnect) return;
      // Exponential backoff with full jitter, as agents do: 100 ms doubling, capped at 2 s.
      const cap = Math.min(2_000, 100 * 2 ** slot.attempts);
      slot.attempts += 1;
      setTimeout(() => reconnect && !slot.agent && connect(slot, port), Math.random() * cap);
    },
  });
  slot.agent.send({ payload: { case: "hello", value: { agentId: slot.name, agentVersion: "bench", hostname: slot.name, actions: [Answer.BLOCK_IP] } } });
}

function benchAlert(now: number, j: number) {
  return {
    id: newId(now),
    revision: 1,
    kind: AlertKind.HTTP_404_BURST,
    severity: Severity.WARNING,
    state: AlertState.OPEN,
    answers: [Answer.IGNORE, Answer.BLOCK_IP],
    subject: { case: "httpErrors" as const, value: { clientIp: `198.51.100.${j % 250}`, status: 404, count: 25, recentPaths: ["/wp-login.php", "/.env"] } },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function connectRange(from: number, to: number, port: () => number): Promise<void> {
  for (let i = from; i < to; i += 1) {
    while (i - welcomed >= CONNECTING_AT_ONCE) await sleep(2);
    connect(slots[i]!, port);
  }
  await until(() => welcomed >= to, `${to} agents welcomed`, 60_000);
}

async function main(): Promise<void> {
  out(`link bench: up to ${TOTAL} agents, one load process; open-file limit ${fdLimit()} here`);
  let t = Date.now();
  const pki = await createBenchPki(TOTAL);
  out(`  ${TOTAL} agent certificates issued in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  t = Date.now();
  for (const a of pki.agents) {
    const context = createSecureContext({ ca: pki.ca.cert, cert: a.cert, key: a.key });
    slots.push({ name: a.name, context, agent: undefined, welcomed: false, attempts: 0, acks: 0 });
  }
  out(`  ${TOTAL} client TLS contexts made in ${((Date.now() - t) / 1000).toFixed(1)} s (once; reused across reconnects)`);
  writeFileSync(join(dir, "ca.pem"), pki.ca.cert);
  writeFileSync(join(dir, "controller.pem"), pki.controller.cert);
  writeFileSync(join(dir, "controller-key.pem"), pki.controller.key, { mode: 0o600 });
  const config = (port: number) => ({
    listen: { host: "127.0.0.1", port },
    tls: { ca: join(dir, "ca.pem"), cert: join(dir, "controller.pem"), key: join(dir, "controller-key.pem") },
    store: { path: join(dir, "controller.db") },
    link: { heartbeatInterval: "30s" },
    log: { level: "warn" as const },
  });
  controller = await startControllerProcess({ config: config(0), nodeArgs: ["--expose-gc", ...(process.env.LINK_BENCH_CONTROLLER_ARGS?.split(" ").filter(Boolean) ?? [])] });
  const port = controller.port;
  await sleep(300);
  const baseRss = rssMiB(controller.pid);
  out(`  controller pid ${controller.pid}, RSS at rest ${baseRss.toFixed(1)} MiB`);

  let connected = 0;
  let lastStep = STEPS[STEPS.length - 1]!;
  for (const step of STEPS) {
    t = Date.now();
    try {
      await connectRange(connected, step, () => port);
    } catch (err) {
      out(`  could not connect ${step}: ${(err as Error).message}; ${welcomed} connected`);
      lastStep = connected;
      break;
    }
    connected = step;
    await sleep(500);
    const rss = rssMiB(controller.pid);
    const mem = await controller.memoryUsage();
    const mib = (n: number) => (n / 1_048_576).toFixed(1);
    out(`  ${welcomed} agents connected at once (Hello→Welcome for the new ones in ${((Date.now() - t - 500) / 1000).toFixed(1)} s); controller RSS ${rss.toFixed(1)} MiB = ${(((rss - baseRss) * 1024) / welcomed).toFixed(1)} KiB per agent above rest`);
    out(`    (after GC: V8 heap used ${mib(mem.heapUsed)} of ${mib(mem.heapTotal)} MiB, external ${mib(mem.external)} MiB, RSS ${mib(mem.rss)} MiB)`);
  }

  // Alerts: ALERT_AGENTS agents each send a burst; count until every one is acked.
  const burstCount = ALERT_AGENTS * ALERTS_PER_AGENT;
  const alertCount = burstCount + BACKLOG;
  const now = Date.now();
  const acksBefore = acks;
  t = Date.now();
  for (let i = 0; i < ALERT_AGENTS; i += 1) {
    const slot = slots[i]!;
    for (let j = 0; j < ALERTS_PER_AGENT; j += 1) {
      slot.agent?.send({ payload: { case: "alert", value: benchAlert(now, j) } });
    }
  }
  await until(() => acks - acksBefore >= burstCount, `${burstCount} alert acks`, 60_000);
  const alertSeconds = (Date.now() - t) / 1000;
  out(`  ${burstCount} alerts from ${ALERT_AGENTS} agents stored and acked in ${alertSeconds.toFixed(2)} s = ${Math.round(burstCount / alertSeconds)} alerts/s (SQLite WAL, synchronous FULL, ack after commit)`);

  // One agent's backlog (as after a long outage), sent back to back on one stream.
  const backlogSlot = slots[ALERT_AGENTS % slots.length]!;
  const backlogAcksBefore = backlogSlot.acks;
  t = Date.now();
  for (let j = 0; j < BACKLOG; j += 1) backlogSlot.agent?.send({ payload: { case: "alert", value: benchAlert(now, j) } });
  await until(() => backlogSlot.acks - backlogAcksBefore >= BACKLOG, `${BACKLOG} backlog acks`, 60_000);
  const backlogSeconds = (Date.now() - t) / 1000;
  out(`  a backlog of ${BACKLOG} alerts on one stream stored and acked in ${backlogSeconds.toFixed(2)} s = ${Math.round(BACKLOG / backlogSeconds)} alerts/s`);
  {
    const rss = rssMiB(controller.pid);
    const mem = await controller.memoryUsage();
    out(`  controller RSS after the alerts ${rss.toFixed(1)} MiB (after GC: V8 heap used ${(mem.heapUsed / 1_048_576).toFixed(1)} of ${(mem.heapTotal / 1_048_576).toFixed(1)} MiB, RSS ${(mem.rss / 1_048_576).toFixed(1)} MiB)`);
  }

  // Restart: SIGTERM, a new process on the same port, every agent reconnects with backoff.
  reconnect = true;
  t = Date.now();
  controller.kill("SIGTERM");
  await controller.stopped;
  const stoppedIn = Date.now() - t;
  controller = await startControllerProcess({ config: config(port), nodeArgs: ["--expose-gc", ...(process.env.LINK_BENCH_CONTROLLER_ARGS?.split(" ").filter(Boolean) ?? [])] });
  const upIn = Date.now() - t;
  await until(() => welcomed >= lastStep, `${lastStep} agents to reconnect`, 90_000);
  out(`  restart: old controller stopped in ${(stoppedIn / 1000).toFixed(1)} s, new one listening after ${(upIn / 1000).toFixed(1)} s; all ${lastStep} agents reconnected ${((Date.now() - t) / 1000).toFixed(1)} s after the stop began`);
  await sleep(300);
  out(`  controller RSS after the reconnect storm ${rssMiB(controller.pid).toFixed(1)} MiB`);

  reconnect = false;
  for (const slot of slots) slot.agent?.close();
  controller.kill("SIGTERM");
  await controller.stopped;
  const store = openSqliteStore(join(dir, "controller.db"));
  const stored = (store.db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number }).n;
  store.close();
  out(`  check: ${stored} alerts in the store (expected ${alertCount}); total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (stored !== alertCount) throw new Error("stored alert count differs from the acked count");
}

main()
  .catch((err: unknown) => {
    out(`link bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => {
    reconnect = false;
    for (const slot of slots) slot.agent?.close();
    controller?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(deadline);
    setTimeout(() => process.exit(), 200).unref();
  });
