// The load fleet (link-load-fleet.ts) split over worker threads: each
// worker runs its share of the agents on an event loop of its own, as real
// agents are processes of their own. At 10,000 agents one event loop could
// not keep up with a reconnect herd (its sockets' receive queues filled,
// its timers fired seconds late, and its 15 s connect timeouts then cut
// sessions the controller had answered): the benchmark measured itself.
// createFleet drives any set of parts that speak these commands: the
// worker threads here, or the Go load process (link-load-go.ts).
import { createSecureContext } from "node:tls";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import type { BenchPki } from "./link-certs.js";
import { createLoadFleet } from "./link-load-fleet.js";

export type Command =
  | { type: "endpoints"; ports: number[] }
  | { type: "reconnect"; on: boolean }
  | { type: "connectAll"; timeoutMs: number; inFlight: number }
  | { type: "burst"; id: number; agents: number; perAgent: number }
  | { type: "flood"; agents: number; tickMs: number }
  | { type: "floodStop" }
  | { type: "issued" }
  | { type: "close" };

export interface Stats {
  welcomed: number;
  onPort: Record<number, number>;
  failed: number;
  unacked: number;
  rejects: number;
  endReasons: Record<string, number>;
  resumed: number;
  /** p50, p90, p99 and max ms of the latest sessions, dial → TLS done and TLS done → Welcome (the Go load measures them). */
  tlsMs?: number[] | null;
  welcomeMs?: number[] | null;
}

export type Report = { type: "stats"; stats: Stats } | { type: "connected" } | { type: "burstDone"; id: number } | { type: "issued"; ids: string[] } | { type: "failed"; message: string };

interface WorkerInput {
  ca: string;
  agents: BenchPki["agents"];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This file in a worker: from a checkout (TypeScript) through tsx's loader, which a worker does not inherit from `--import tsx`. */
const WORKER_URL = import.meta.url.endsWith(".ts")
  ? new URL(`data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))}; register(); await import(${JSON.stringify(import.meta.url)});`)}`)
  : new URL(import.meta.url);

/**
 * Where a share of the load agents runs (a worker thread, or the Go load
 * process of link-load-go.ts): it takes the commands and sends reports.
 */
export interface FleetPart {
  post(command: Command): void;
  /** Reports, in order; `failure` when the part itself failed. */
  listen(onReport: (report: Report) => void, onFailure: (message: string) => void): void;
  terminate(): Promise<unknown>;
}

/** The agents `pki.agents` over `workers` threads; the commands go to all, the figures are their sums. */
export async function createWorkerFleet(pki: Pick<BenchPki, "ca" | "agents">, workers: number) {
  const shares = Array.from({ length: workers }, (_, w) => pki.agents.filter((_, i) => i % workers === w));
  const parts = shares.map((agents, w): FleetPart => {
    const worker = new Worker(WORKER_URL, { workerData: { ca: pki.ca.cert, agents } satisfies WorkerInput });
    return {
      post: (command) => worker.postMessage(command),
      listen(onReport, onFailure) {
        worker.on("message", onReport);
        worker.on("error", (err) => onFailure(`load worker ${w} failed: ${err.stack ?? String(err)}`));
      },
      terminate: () => worker.terminate(),
    };
  });
  return createFleet(parts, pki.agents.length);
}

/** A load fleet over `parts`, each holding a share of `agents` agents: the commands go to all, the figures are their sums. */
export function createFleet(parts: FleetPart[], agents: number) {
  const workers = parts.length;
  const stats: Stats[] = parts.map(() => ({ welcomed: 0, onPort: {}, failed: 0, unacked: 0, rejects: 0, resumed: 0, endReasons: {} }));
  const waiting = new Map<string, Array<() => void>>();
  let failure: string | undefined;
  let burstId = 0;
  const issued: string[][] = parts.map(() => []);
  parts.forEach((part, w) =>
    part.listen(
      (report) => {
        if (report.type === "stats") stats[w] = report.stats;
        else if (report.type === "failed") failure = report.message;
        else {
          if (report.type === "issued") issued[w] = report.ids;
          const key = report.type === "burstDone" ? `burst ${report.id}` : report.type;
          waiting.get(key)?.shift()?.();
        }
      },
      (message) => (failure = message),
    ),
  );
  const send = (command: Command) => parts.forEach((p) => p.post(command));
  /** Resolves when every part reported `key`. */
  const fromAll = (key: string) =>
    Promise.all(
      parts.map(
        () =>
          new Promise<void>((resolve) => {
            const list = waiting.get(key) ?? [];
            list.push(resolve);
            waiting.set(key, list);
          }),
      ),
    );
  const sum = (f: (s: Stats) => number) => stats.reduce((n, s) => n + f(s), 0);
  const until = async (condition: () => boolean, what: string, timeoutMs: number): Promise<void> => {
    const start = Date.now();
    while (!condition()) {
      if (failure) throw new Error(failure);
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  const settle = async <T>(work: Promise<T>, what: string, timeoutMs: number): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)))]);
    } finally {
      clearTimeout(timer);
    }
  };
  // Stats come every 100 ms: wait for a fresh round after a command whose effect is read at once.
  const fresh = () => sleep(250);

  return {
    workers,
    agents,
    async setEndpoints(ports: readonly number[]) {
      send({ type: "endpoints", ports: [...ports] });
      await fresh();
    },
    setReconnect: (on: boolean) => send({ type: "reconnect", on }),
    /** Every agent connects, `inFlight` handshakes in flight at a time over all workers. */
    async connectAll(timeoutMs: number, inFlight = 200) {
      const done = fromAll("connected");
      send({ type: "connectAll", timeoutMs, inFlight: Math.max(1, Math.round(inFlight / workers)) });
      await settle(done, "every agent welcomed", timeoutMs + 5_000);
      await fresh();
    },
    /** The first `agents` agents (spread over the workers) send `perAgent` alerts each at once; resolves when all are acked. */
    async burst(agents: number, perAgent: number, timeoutMs: number) {
      const id = (burstId += 1);
      const done = fromAll(`burst ${id}`);
      send({ type: "burst", id, agents: Math.ceil(agents / workers), perAgent });
      await settle(done, `${agents * perAgent} alert acks`, timeoutMs);
      await fresh();
    },
    /** The first `agents` agents send one alert a second each until stop(). */
    flood(agents: number, tickMs: number) {
      send({ type: "flood", agents: Math.ceil(agents / workers), tickMs });
      return { stop: () => send({ type: "floodStop" }) };
    },
    welcomed: () => sum((s) => s.welcomed),
    welcomedOn: (port: number) => sum((s) => s.onPort[port] ?? 0),
    failed: () => sum((s) => s.failed),
    /** Where the latest connects waited (the Go load's figures), or undefined. */
    connectTimes(): string | undefined {
      const s = stats.find((x) => x.tlsMs && x.welcomeMs);
      const four = (v: number[]) => `p50 ${v[0]} ms, p90 ${v[1]}, p99 ${v[2]}, max ${v[3]}`;
      return s ? `dial → TLS done ${four(s.tlsMs!)}; TLS done → Welcome ${four(s.welcomeMs!)} (latest 4,096 sessions)` : undefined;
    },
    /** TLS sessions resumed. */
    resumed: () => sum((s) => s.resumed),
    unacked: () => sum((s) => s.unacked),
    rejects: () => sum((s) => s.rejects),
    endReasons(): string[] {
      const all = new Map<string, number>();
      for (const s of stats) for (const [reason, n] of Object.entries(s.endReasons)) all.set(reason, (all.get(reason) ?? 0) + n);
      return [...all].map(([reason, n]) => `${n} × ${reason}`);
    },
    until,
    /** The ids of every alert sent so far, from every worker. */
    async issuedIds(): Promise<string[]> {
      const done = fromAll("issued");
      send({ type: "issued" });
      await settle(done, "the alert ids sent", 30_000);
      return issued.flat();
    },
    async closeAll() {
      send({ type: "close" });
      await sleep(200);
      await Promise.all(parts.map((p) => p.terminate()));
    },
  };
}

export type WorkerFleet = ReturnType<typeof createFleet>;

/** One worker: its share of the agents in a load fleet, driven by the main thread's commands. */
function runWorker(input: WorkerInput): void {
  const port = parentPort!;
  const post = (report: Report) => port.postMessage(report);
  const fleet = createLoadFleet();
  const slots = input.agents.map((a) => fleet.slot(a.name, createSecureContext({ ca: input.ca, cert: a.cert, key: a.key })));
  let ports: number[] = [];
  let flood: NodeJS.Timeout | undefined;
  const report = setInterval(() => {
    const reasons: Record<string, number> = {};
    for (const line of fleet.endReasons()) {
      const at = line.indexOf(" × ");
      reasons[line.slice(at + 3)] = Number(line.slice(0, at));
    }
    post({
      type: "stats",
      stats: {
        welcomed: fleet.welcomed(),
        onPort: Object.fromEntries(ports.map((p) => [p, fleet.welcomedOn(p)])),
        failed: fleet.failed(),
        unacked: fleet.unacked(),
        rejects: fleet.rejects(),
        resumed: fleet.resumed(),
        endReasons: reasons,
      },
    });
  }, 100);
  port.on("message", (command: Command) => {
    switch (command.type) {
      case "endpoints":
        ports = command.ports;
        fleet.setEndpoints(command.ports);
        return;
      case "reconnect":
        fleet.setReconnect(command.on);
        return;
      case "connectAll":
        fleet.connectAll(slots, command.timeoutMs, command.inFlight).then(
          () => post({ type: "connected" }),
          (err: unknown) => post({ type: "failed", message: String(err) }),
        );
        return;
      case "burst": {
        const acked = slots.slice(0, command.agents).map((slot) => fleet.sendAlerts(slot, command.perAgent));
        const check = setInterval(() => {
          if (!acked.every((done) => done())) return;
          clearInterval(check);
          post({ type: "burstDone", id: command.id });
        }, 5);
        return;
      }
      case "flood": {
        const alerting = slots.slice(0, command.agents);
        const share = Math.max(1, Math.round(alerting.length / (1_000 / command.tickMs)));
        let next = 0;
        clearInterval(flood);
        flood = setInterval(() => {
          for (let i = 0; i < share; i += 1) {
            fleet.sendAlerts(alerting[next]!, 1);
            next = (next + 1) % alerting.length;
          }
        }, command.tickMs);
        return;
      }
      case "floodStop":
        clearInterval(flood);
        return;
      case "issued":
        post({ type: "issued", ids: [...fleet.issuedIds()] });
        return;
      case "close":
        clearInterval(flood);
        clearInterval(report);
        fleet.closeAll();
        return;
    }
  });
}

if (!isMainThread) runWorker(workerData as WorkerInput);
