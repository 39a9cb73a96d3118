import { openPostgresStore, type PostgresStore } from "../../controller/store/postgres-store.js";
import { migrateReplicaTables } from "../../controller/store/postgres-replica-schema.js";
import { startPgCluster, type PgCluster } from "../../testing/postgres.js";

/**
 * Mocha hooks for tests of controller replicas: one throw-away PostgreSQL
 * cluster for the file, a fresh database for each test with the core and
 * replica tables, and `open()` for as many stores (replicas) as the test
 * needs, all closed after it.
 */
export interface ReplicaDatabase {
  /** A new pool on this test's database, as one replica would have. */
  open(poolSize?: number): Promise<PostgresStore>;
  cluster(): PgCluster;
}

export function useReplicaDatabase(): ReplicaDatabase {
  let cluster: PgCluster | undefined;
  let url = "";
  const stores: PostgresStore[] = [];
  before(async function () {
    this.timeout(120_000);
    cluster = await startPgCluster();
  });
  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
  });
  beforeEach(async function () {
    this.timeout(60_000);
    url = await cluster!.createDatabase();
  });
  afterEach(async function () {
    this.timeout(60_000);
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  return {
    async open(poolSize = 4) {
      const store = await openPostgresStore({ url, poolSize });
      stores.push(store);
      await migrateReplicaTables(store.sql, store.where);
      return store;
    },
    cluster: () => cluster!,
  };
}

/** Waits until `probe` returns something other than undefined/false, polling every 20 ms, for at most `timeoutMs`. */
export async function eventually<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
