import postgres from "postgres";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { FleetBlockStore } from "./fleet-block-store.js";
import { openPostgresFleetBlockStore } from "./postgres-fleet-blocks.js";
import { openPostgresSilenceStore } from "./postgres-silences.js";
import { openPostgresTelegramStore } from "./postgres-telegram.js";
import type { TelegramStore } from "./telegram-store.js";
import type { SilenceStore } from "./silence-store.js";
import { SecarcError, describeError, isSecarcError } from "../../common/errors.js";
import { pgActionOperations } from "./postgres-actions.js";
import { pgAgentOperations, prefetchHellos, takePrefetchedConnect, takePrefetchedSources, untakenPrefetchedHellos } from "./postgres-agents.js";
import { pgAlertOperations, prefetchAlerts, takePrefetchedAlert, untakenPrefetchedAlerts } from "./postgres-alerts.js";
import { migratePostgres } from "./postgres-migrate.js";
import { postgresCoreMigrations } from "./postgres-schema.js";
import type { PgOperation, PgSql, PgStoreOperations } from "./postgres-types.js";
import { PREFETCH_STAGE, type AlertPrefetchPayload, type BatchPrefetch, type HelloPrefetchPayload } from "./store.js";

export interface OpenPostgresStoreOptions {
  /** postgres://user:password@host:port/database (libpq URL; `?sslmode=require` and the like are honoured by the client). */
  url: string;
  /** Connections in the pool. Default: 10. */
  poolSize?: number;
  /** Give up a connection attempt after this long, in seconds. Default: 10. */
  connectTimeoutSeconds?: number;
}

/**
 * The Store on PostgreSQL, for several controller replicas sharing one
 * database (SQLite stays the embedded default).
 *
 * `sql` is the pool itself, for the parts that build on it: `sql.listen()`
 * (LISTEN/NOTIFY on a connection of its own that the client reconnects,
 * calling `onlisten` again each time) and `sql.begin()` for a transaction
 * that spans several tables.
 */
export interface PostgresStore extends PgStoreOperations {
  readonly sql: PgSql;
  /** Where the store is, without the password: "postgres://secarc@db:5432/secarc". */
  readonly where: string;
  /**
   * Runs `fn` in one transaction: what it writes through `tx` commits
   * together, or not at all when `fn` rejects. Each `tx` method runs in a
   * savepoint: one that fails undoes only its own writes and rejects.
   */
  transaction<T>(fn: (tx: PgStoreOperations) => Promise<T>): Promise<T>;
  /** The group commit's alerts in one statement (store.ts, Store.alertPrefetch). */
  readonly alertPrefetch: BatchPrefetch<AlertPrefetchPayload>;
  /** The group commit's Hellos in one statement (Store.helloPrefetch). */
  readonly helloPrefetch: BatchPrefetch<HelloPrefetchPayload>;
  /** Ends the pool (waits up to 5 s for running queries). */
  close(): Promise<void>;
  readonly silences: SilenceStore;
  readonly fleetBlocks: FleetBlockStore;
  readonly telegram: TelegramStore;
}

/**
 * Connects, checks that the server answers, and brings the core tables up to
 * date (postgres-schema.ts; replicas starting together migrate once).
 *
 * Every write is durable when its promise resolves: PostgreSQL's default
 * `synchronous_commit = on` flushes the WAL at each commit, the same promise
 * as the SQLite store's `synchronous = FULL`.
 */
export async function openPostgresStore(options: OpenPostgresStoreOptions): Promise<PostgresStore> {
  const where = redactUrl(options.url);
  const sql = postgres(options.url, {
    max: options.poolSize ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    onnotice: () => {},
    transform: { undefined: null },
    types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
    connection: { application_name: "secarc-controller" },
  }) as unknown as PgSql;
  let parts: Pick<PostgresStore, "silences" | "fleetBlocks" | "telegram">;
  try {
    await migratePostgres(sql, "core", postgresCoreMigrations, where);
    parts = { silences: await openPostgresSilenceStore(sql, where), fleetBlocks: await openPostgresFleetBlockStore(sql, where), telegram: await openPostgresTelegramStore(sql, where) };
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    if (isSecarcError(err)) throw err;
    throw new SecarcError("unavailable", `cannot open the controller store ${where}: ${describeError(err)}`, { cause: err, retryable: true });
  }
  return {
    sql,
    where,
    ...onPool(sql),
    ...parts,
    transaction: async <T>(fn: (tx: PgStoreOperations) => Promise<T>): Promise<T> =>
      (await sql.begin(async (tx) => {
        const value = await fn(inTransaction(tx));
        const untaken = [...untakenPrefetchedAlerts(tx).map((id) => `alert ${id}`), ...untakenPrefetchedHellos(tx).map((id) => `Hello of ${id}`)];
        if (untaken.length > 0) throw new SecarcError("internal", `${untaken.length} prefetched writes (${untaken.slice(0, 3).join(", ")}) were not taken by their writes; the transaction is rolled back`);
        return value;
      })) as T,
    alertPrefetch: ALERT_PREFETCH,
    helloPrefetch: HELLO_PREFETCH,
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

const OPERATIONS: { [K in keyof PgStoreOperations]: PgOperation<PgStoreOperations[K]> } = { ...pgAgentOperations, ...pgAlertOperations, ...pgActionOperations };

/** The operations on the pool: one statement runs as it is, several in a transaction of their own. */
function onPool(sql: PgSql): PgStoreOperations {
  const bound: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, op] of Object.entries(OPERATIONS) as Array<[string, { atomic: boolean; run: (q: unknown, ...args: unknown[]) => Promise<unknown> }]>) {
    bound[name] = op.atomic ? (...args) => sql.begin((tx) => op.run(tx, ...args)) : (...args) => op.run(sql, ...args);
  }
  return bound as unknown as PgStoreOperations;
}

/**
 * The operations inside a transaction: each in a savepoint, so that one
 * that fails undoes only its own writes and the transaction can go on
 * (PostgreSQL otherwise refuses every later statement of the transaction).
 */
export function inTransaction(tx: postgres.TransactionSql): PgStoreOperations {
  const bound: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, op] of Object.entries(OPERATIONS) as Array<[string, { run: (q: unknown, ...args: unknown[]) => Promise<unknown> }]>) {
    bound[name] = (...args) => tx.savepoint((sp) => op.run(sp, ...args));
  }
  // What the batch's prefetch stored already costs no statement (ALERT_PREFETCH, HELLO_PREFETCH).
  const upsert = bound.upsertAlert!;
  bound.upsertAlert = (...args) => {
    const hit = takePrefetchedAlert(tx, args[0] as string, args[1] as Alert);
    return hit ? Promise.resolve(hit) : upsert(...args);
  };
  const connected = bound.agentConnected!;
  bound.agentConnected = (...args) => {
    const hit = takePrefetchedConnect(tx, args[0] as HelloPrefetchPayload["input"]);
    return hit ? Promise.resolve(hit) : connected(...args);
  };
  const sources = bound.setDetectorSources!;
  bound.setDetectorSources = (...args) => (takePrefetchedSources(tx, args[0] as string, args[1] as HelloPrefetchPayload["sources"]) ? Promise.resolve() : sources(...args));
  transactionOf.set(bound, tx);
  return bound as unknown as PgStoreOperations;
}

/** A prefetch of the group commit's writes that runs `prefetch` on its transaction (inside the store's transactions only). */
function writesPrefetch<P>(prefetch: (tx: postgres.TransactionSql, payloads: P[]) => Promise<void>): BatchPrefetch<P> {
  return {
    stage: PREFETCH_STAGE.writes,
    complete: true,
    async prepare(ops, payloads) {
      const tx = pgTransactionOf(ops);
      if (tx) await prefetch(tx, payloads);
      return undefined;
    },
  };
}
/** The group commit's Hellos in one upsert (postgres-agents.ts, prefetchHellos). */
const HELLO_PREFETCH = writesPrefetch(prefetchHellos);
/** The group commit's alerts in one insert (postgres-alerts.ts, prefetchAlerts). */
const ALERT_PREFETCH = writesPrefetch(prefetchAlerts);

const transactionOf = new WeakMap<object, postgres.TransactionSql>();

/** The transaction an `inTransaction` view runs on, for parts that add statements of their own to it (the replicas' session fence). */
export function pgTransactionOf(ops: object): postgres.TransactionSql | undefined {
  return transactionOf.get(ops);
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}
