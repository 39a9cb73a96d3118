import type postgres from "postgres";
import { SecarcError, describeError, isSecarcError } from "../../common/errors.js";
import { openCopySource, type CopySource } from "./copy-source.js";
import { openPostgresFleetBlockStore } from "./postgres-fleet-blocks.js";
import { openPostgresSilenceStore } from "./postgres-silences.js";
import { openPostgresStore } from "./postgres-store.js";
import { openPostgresTelegramStore } from "./postgres-telegram.js";
import type { PgSql } from "./postgres-types.js";

export interface CopyStoreOptions {
  /** The SQLite store file. */
  from: string;
  /** The PostgreSQL database's URL (it must exist and hold no SecARC rows). */
  to: string;
  /** The controller's admin socket: a copy is refused while it answers. Default: none (the SQLite lock alone tells). */
  adminSocket?: string;
  /** Rows per INSERT. Default: 500. */
  batchRows?: number;
}

export interface CopyReport {
  /** Every table copied, with its row count (the same on both sides). */
  tables: Array<{ table: string; rows: number }>;
}

/** The PostgreSQL components beside the core's (openPostgresStore migrates that one): each migrates its tables. */
const POSTGRES_COMPONENTS: ReadonlyArray<(sql: PgSql, where: string) => Promise<unknown>> = [openPostgresSilenceStore, openPostgresFleetBlockStore, openPostgresTelegramStore];

interface TargetColumn { name: string; type: string; identity: boolean }

/**
 * `secarc store copy`: moves a SQLite store into an empty PostgreSQL
 * database, with the controller stopped (the SQLite file is held
 * exclusively throughout, so none can start on it meanwhile). The target is
 * migrated first; both sides must then be at the same schema version, every
 * SQLite table and column must have its PostgreSQL twin, and the target's
 * tables must be empty. All rows go in one PostgreSQL transaction, which
 * commits only when every table's row count matches the source's.
 */
export async function copySqliteToPostgres(options: CopyStoreOptions): Promise<CopyReport> {
  const source = await openCopySource(options.from, options.adminSocket);
  try {
    const target = await openPostgresStore({ url: options.to, poolSize: 1 }).catch((err: unknown) => {
      throw isSecarcError(err) ? err : new SecarcError("unavailable", describeError(err), { cause: err });
    });
    try {
      // Every component's tables, not only the core's, before the versions are compared.
      for (const migrateComponent of POSTGRES_COMPONENTS) await migrateComponent(target.sql, target.where);
      await checkVersions(source, target.sql, options.from, target.where);
      const columns = await targetColumns(target.sql, source.tables, target.where);
      await checkEmpty(target.sql, source.tables, target.where);
      const tables = await target.sql.begin(async (tx) => {
        const copied: CopyReport["tables"] = [];
        for (const table of source.tables) {
          const rows = await copyTable(source, tx, table, columns.get(table)!, options.batchRows ?? 500).catch((err: unknown) => {
            if (isSecarcError(err)) throw err;
            throw new SecarcError("command_failed", `copying table ${table} failed, nothing was committed: ${describeError(err)}`, { cause: err });
          });
          copied.push({ table, rows });
        }
        return copied;
      });
      return { tables };
    } finally {
      await target.close();
    }
  } finally {
    source.close();
  }
}

async function checkVersions(source: CopySource, sql: PgSql, from: string, where: string): Promise<void> {
  const rows = await sql<Array<{ component: string; version: number }>>`SELECT component, version FROM schema_versions`;
  const target = new Map(rows.map((r) => [r.component, r.version]));
  for (const [component, version] of source.versions) {
    const known = target.get(component);
    if (known === undefined) throw new SecarcError("refused", `${from} has "${component}" tables, which this secarc's PostgreSQL store (${where}) does not have`);
    if (version < known) {
      throw new SecarcError("refused", `${from}: its ${component} schema is version ${version}, this secarc's is ${known}: start this secarc's controller on it once (it migrates the file), stop it, and copy again`);
    }
    if (version > known) throw new SecarcError("refused", `${from}: its ${component} schema is version ${version}, this secarc knows up to ${known}: copy with the secarc that wrote it`);
  }
}

async function targetColumns(sql: PgSql, tables: string[], where: string): Promise<Map<string, TargetColumn[]>> {
  const rows = await sql<Array<{ table_name: string; column_name: string; data_type: string; is_identity: string }>>`
    SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = ANY(${tables}::text[]) ORDER BY table_name, ordinal_position`;
  const byTable = new Map<string, TargetColumn[]>();
  for (const row of rows) {
    const list = byTable.get(row.table_name) ?? [];
    list.push({ name: row.column_name, type: row.data_type, identity: row.is_identity === "YES" });
    byTable.set(row.table_name, list);
  }
  const missing = tables.filter((t) => !byTable.has(t));
  if (missing.length > 0) throw new SecarcError("refused", `the PostgreSQL store ${where} has no table ${missing.join(", ")}: this secarc cannot copy it`);
  return byTable;
}

async function checkEmpty(sql: PgSql, tables: string[], where: string): Promise<void> {
  for (const table of tables) {
    const [row] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${sql(table)}`;
    if ((row?.n ?? 0) > 0) throw new SecarcError("refused", `${where} is not empty (table ${table} has ${row!.n} rows): copy into a new, empty database`);
  }
}

/**
 * Copies one table in rowid order (insertion order), in batches. An
 * identity column the SQLite table lacks (alerts.seq) takes the rowid;
 * identity sequences then continue after the highest value copied.
 */
async function copyTable(source: CopySource, tx: postgres.TransactionSql, table: string, target: TargetColumn[], batchRows: number): Promise<number> {
  const sourceColumns = (source.db.pragma(`table_info(${quoteSqlite(table)})`) as Array<{ name: string }>).map((c) => c.name);
  const absent = sourceColumns.filter((c) => !target.some((t) => t.name === c));
  if (absent.length > 0) throw new SecarcError("refused", `PostgreSQL table ${table} has no column ${absent.join(", ")}: this secarc cannot copy it`);
  const fromRowid = target.filter((t) => t.identity && !sourceColumns.includes(t.name)).map((t) => t.name);
  const hasRowid = source.db.prepare(`SELECT 1 FROM sqlite_master WHERE name = ? AND sql NOT LIKE '%WITHOUT ROWID%'`).get(table) !== undefined;
  const select = `SELECT ${hasRowid ? "rowid AS \"__rowid\", " : ""}* FROM ${quoteSqlite(table)}${hasRowid ? " ORDER BY rowid" : ""}`;
  const columns = [...sourceColumns, ...(hasRowid ? fromRowid : [])];
  const types = new Map(target.map((t) => [t.name, t.type]));
  let batch: Array<Record<string, unknown>> = [];
  let copied = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await tx`INSERT INTO ${tx(table)} ${tx(batch as never, columns)}`;
    copied += batch.length;
    batch = [];
  };
  for (const row of source.db.prepare(select).iterate() as Iterable<Record<string, unknown>>) {
    const out: Record<string, unknown> = {};
    for (const c of sourceColumns) out[c] = convert(row[c], types.get(c)!, table, c);
    for (const c of fromRowid) if (hasRowid) out[c] = row.__rowid;
    batch.push(out);
    if (batch.length >= batchRows) await flush();
  }
  await flush();
  for (const column of target.filter((t) => t.identity)) {
    await tx`SELECT setval(pg_get_serial_sequence(${table}, ${column.name}), max_value) FROM (SELECT max(${tx(column.name)}) AS max_value FROM ${tx(table)}) m WHERE max_value IS NOT NULL`;
  }
  const [sourceCount] = source.db.prepare(`SELECT count(*) AS n FROM ${quoteSqlite(table)}`).all() as Array<{ n: number }>;
  const [targetCount] = await tx<Array<{ n: number }>>`SELECT count(*)::int AS n FROM ${tx(table)}`;
  if (sourceCount?.n !== copied || targetCount?.n !== copied) {
    throw new SecarcError("internal", `table ${table}: ${sourceCount?.n} rows in SQLite, ${copied} copied, ${targetCount?.n} in PostgreSQL: nothing was committed`);
  }
  return copied;
}

/** A SQLite value as the PostgreSQL column takes it. */
function convert(value: unknown, type: string, table: string, column: string): unknown {
  if (value === null || value === undefined) return null;
  if (type === "bytea") {
    if (value instanceof Uint8Array) return value;
    if (typeof value === "string") return Buffer.from(value, "utf8");
  }
  if ((type === "bigint" || type === "integer" || type === "smallint") && typeof value === "number" && !Number.isInteger(value)) {
    throw new SecarcError("refused", `${table}.${column} holds ${value}, not an integer: the SQLite store is not as this secarc wrote it`);
  }
  if (type === "text" && typeof value !== "string") return String(value);
  return value;
}

function quoteSqlite(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
