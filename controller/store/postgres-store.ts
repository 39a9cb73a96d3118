import postgres from "postgres";
import { SecarcError, describeError, isSecarcError } from "../../common/errors.js";
import type { Store } from "./store.js";
import { createPgActionMethods } from "./postgres-actions.js";
import { createPgAgentMethods } from "./postgres-agents.js";
import { createPgAlertMethods } from "./postgres-alerts.js";
import { migratePostgres } from "./postgres-migrate.js";
import { postgresCoreMigrations } from "./postgres-schema.js";
import type { AsyncMethods, PgSql } from "./postgres-types.js";

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
export interface PostgresStore extends Omit<AsyncMethods<Store>, "close"> {
  readonly sql: PgSql;
  /** Where the store is, without the password: "postgres://secarc@db:5432/secarc". */
  readonly where: string;
  /** Ends the pool (waits up to 5 s for running queries). */
  close(): Promise<void>;
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
  try {
    await migratePostgres(sql, "core", postgresCoreMigrations, where);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    if (isSecarcError(err)) throw err;
    throw new SecarcError("unavailable", `cannot open the controller store ${where}: ${describeError(err)}`, { cause: err, retryable: true });
  }
  return {
    sql,
    where,
    ...createPgAgentMethods(sql),
    ...createPgAlertMethods(sql),
    ...createPgActionMethods(sql),
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
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
