// The link benchmarks' common set-up: a PKI of N agents with their client
// TLS contexts (made once, reused across reconnects), the controller's
// files and config in a temporary folder, and controllers in child
// processes (log level warn) on one store: SQLite (WAL, synchronous FULL)
// by default, or the PostgreSQL database the benchmark names.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import type { ControllerConfigInput } from "../controller/config.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { startControllerProcess, type ControllerProcess } from "../test/support/controller-process.js";
import { createBenchPki, type BenchPki } from "./link-certs.js";
import { createLoadFleet, type LoadSlot } from "./link-load-fleet.js";

export interface LinkBenchSetup {
  dir: string;
  /** The agents' certificates (for load fleets in worker threads, link-load-workers.ts). */
  pki: BenchPki;
  fleet: ReturnType<typeof createLoadFleet>;
  slots: LoadSlot[];
  /** Starts a controller on `port` (0: a free one) on the setup's store; `name` tells replicas apart (their admin sockets). */
  startController(port: number, name?: string): Promise<ControllerProcess>;
  /** Alerts in the SQLite store (open it after the controller stopped). */
  storedAlerts(): Promise<number>;
  /** Removes the folder. */
  remove(): void;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** VmRSS of a process, MiB. */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
}

/**
 * The controller's RSS and V8 heap used, after a GC (it runs with --expose-gc),
 * and where the RSS is: `parts` says the V8 heap committed (heapTotal), the
 * memory of Buffers and ArrayBuffers (external), and the rest (native: TLS,
 * nghttp2, SQLite, malloc's free lists), MiB.
 */
export async function controllerMemory(c: ControllerProcess): Promise<{ rss: number; heap: number; parts: string }> {
  const mem = await c.memoryUsage();
  const rss = rssMiB(c.pid);
  const mib = (bytes: number) => (bytes / 1_048_576).toFixed(0);
  const native = rss - (mem.heapTotal + mem.external) / 1_048_576;
  const parts = `V8 heap ${mib(mem.heapUsed)} used of ${mib(mem.heapTotal)} committed, external ${mib(mem.external)}, the rest ${native.toFixed(0)} MiB`;
  return { rss, heap: mem.heapUsed / 1_048_576, parts };
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat (clock ticks of 10 ms). */
export function cpuSeconds(pid: number | "self" = "self"): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** This process's open-file limit, for the log line. */
export const fdLimit = (): string => /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? "?";

/** The 1-minute load average, from /proc/loadavg. */
export const loadAverage = (): string => readFileSync("/proc/loadavg", "utf8").split(" ")[0] ?? "?";

export interface LinkBenchOptions {
  /** The store every controller of the setup opens. Default: an SQLite file in the setup's folder. */
  store?: ControllerConfigInput["store"];
  /** False: no load slots in this process (the load runs in worker threads). Default: true. */
  slots?: boolean;
}

export async function createLinkBenchSetup(agents: number, prefix: string, options: LinkBenchOptions = {}): Promise<LinkBenchSetup> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const pki = await createBenchPki(agents);
  const fleet = createLoadFleet();
  const slots = options.slots === false ? [] : pki.agents.map((a) => fleet.slot(a.name, createSecureContext({ ca: pki.ca.cert, cert: a.cert, key: a.key })));
  writeFileSync(join(dir, "ca.pem"), pki.ca.cert);
  writeFileSync(join(dir, "controller.pem"), pki.controller.cert);
  writeFileSync(join(dir, "controller-key.pem"), pki.controller.key, { mode: 0o600 });
  const config = (port: number, name: string): ControllerConfigInput => ({
    listen: { host: "127.0.0.1", port },
    tls: { ca: join(dir, "ca.pem"), cert: join(dir, "controller.pem"), key: join(dir, "controller-key.pem"), ticketKeyFile: join(dir, "tls-tickets.key") },
    store: options.store ?? { path: join(dir, "controller.db") },
    admin: { socket: join(dir, `${name}-admin.sock`) },
    // One load process answers the HTTP/2 pings of all its agents: the ping timeout is raised from 10 s so that its own lag under a connect storm does not count as dead peers.
    link: { heartbeatInterval: "30s", pingTimeout: "30s" },
    log: { level: "warn" as const },
  });
  const nodeArgs = ["--expose-gc", ...(process.env.LINK_BENCH_CONTROLLER_ARGS?.split(" ").filter(Boolean) ?? [])];
  return {
    dir,
    pki,
    fleet,
    slots,
    startController: (port, name = "controller") => startControllerProcess({ config: config(port, name), nodeArgs }),
    async storedAlerts() {
      const store = openSqliteStore(join(dir, "controller.db"));
      try {
        return (store.db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number }).n;
      } finally {
        await store.close();
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
