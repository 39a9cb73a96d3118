import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { silentLogger } from "../../common/log.js";
import type { ControllerConfigInput } from "../../controller/config.js";
import { startController, type RunningController } from "../../controller/controller.js";
import { freeLoopbackPort } from "./agent-process.js";
import { testControllerConfig } from "./controller-harness.js";
import { startControllerProcess, type ControllerProcess } from "./controller-process.js";
import { createTestPki, type TestPki } from "./pki.js";
import { startPgCluster, type PgCluster } from "../../testing/postgres.js";

/** A controller replica in a child process of its own (kill -9, SIGSTOP work on it). */
export interface ProcessReplica {
  name: string;
  process: ControllerProcess;
  port: number;
  /** "127.0.0.1:port", as agents list it. */
  address: string;
}

/** Controller replicas on one PostgreSQL database, for one test. */
export interface ReplicaFleet {
  readonly url: string;
  /** `store` of every replica's config. */
  readonly store: { postgres: { url: string; poolSize: number } };
  /** A connection of the test's own to the database, to look at what the replicas wrote. */
  readonly db: postgres.Sql;
  /** Starts a replica as a child process; `overrides` go over the fleet's config (listen, tls, store, admin, log). */
  startProcess(name: string, overrides?: Partial<ControllerConfigInput>): Promise<ProcessReplica>;
  /** Starts a replica in this process (its store and action requests at hand); closed with the fleet. */
  startInProcess(name: string, overrides?: Partial<ControllerConfigInput>): Promise<RunningController>;
  /** The holder of lease `name` ("telegram") while it has not expired, by the database's clock. */
  leaseHolder(name?: string): Promise<{ holder: string; epoch: number } | undefined>;
  /** The process replica whose pid is in the holder's replica id (replica-id.ts: host-pid-random). */
  replicaOf(holder: string): ProcessReplica | undefined;
}

/** What useReplicaFleet gives a test file. */
export interface ReplicaFleets {
  readonly pki: TestPki;
  /** A directory for the test file (agents' state, admin sockets), removed after it. */
  readonly dir: string;
  readonly cluster: PgCluster;
  /** A fresh database with no replica yet; everything started on it stops after the test. `poolSize`: each replica's (default 4). */
  create(database: string, options?: { poolSize?: number }): Promise<ReplicaFleet>;
}

/**
 * Mocha hooks for system tests of controller replicas sharing PostgreSQL:
 * one throw-away cluster, one test PKI and one directory for the file;
 * `create` per test gives a fresh database and starts replicas on it
 * (child processes or in-process), all stopped after each test — processes
 * killed with SIGKILL (after SIGCONT, in case a test froze one), in-process
 * ones closed, the test's connection ended — even when the test failed.
 */
export function useReplicaFleet(prefix: string): ReplicaFleets {
  const world = {} as { pki: TestPki; dir: string; cluster: PgCluster };
  const cleanups: Array<() => Promise<void>> = [];
  before(async function () {
    this.timeout(120_000);
    world.cluster = await startPgCluster();
    world.pki = await createTestPki();
    world.dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(async function () {
    this.timeout(60_000);
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  after(async function () {
    this.timeout(60_000);
    await world.cluster?.stop();
    world.pki?.cleanup();
    if (world.dir) rmSync(world.dir, { recursive: true, force: true });
  });
  return {
    get pki() {
      return world.pki;
    },
    get dir() {
      return world.dir;
    },
    get cluster() {
      return world.cluster;
    },
    async create(database, options = {}) {
      const url = await world.cluster.createDatabase(database);
      const db = postgres(url, { max: 1, onnotice: () => {} });
      cleanups.push(() => db.end({ timeout: 5 }));
      const store = { postgres: { url, poolSize: options.poolSize ?? 4 } };
      const processes: ProcessReplica[] = [];
      const base = (name: string): ControllerConfigInput => ({
        tls: { ca: world.pki.ca, cert: world.pki.controller.cert, key: world.pki.controller.key },
        store,
        admin: { socket: join(world.dir, `${database}-${name}.sock`) },
        log: { level: "warn" },
      });
      return {
        url,
        store,
        db,
        async startProcess(name, overrides = {}) {
          const port = await freeLoopbackPort();
          const running = await startControllerProcess({ config: { ...base(name), listen: { host: "127.0.0.1", port }, ...overrides } });
          cleanups.push(async () => {
            running.kill("SIGCONT");
            running.kill("SIGKILL");
            await running.stopped;
          });
          const replica = { name, process: running, port: running.port, address: `127.0.0.1:${running.port}` };
          processes.push(replica);
          return replica;
        },
        async startInProcess(name, overrides = {}) {
          const controller = await startController({ config: testControllerConfig(world.pki, world.dir, { ...base(name), ...overrides }), logger: silentLogger() });
          cleanups.push(() => controller.close());
          return controller;
        },
        async leaseHolder(name = "telegram") {
          const [row] = await db<Array<{ holder: string; epoch: number }>>`
            SELECT holder, epoch::int AS epoch FROM leases WHERE name = ${name} AND expires_at > secarc_now_ms()`;
          return row;
        },
        replicaOf: (holder) => processes.find((r) => holder.includes(`-${r.process.pid}-`)),
      };
    },
  };
}
