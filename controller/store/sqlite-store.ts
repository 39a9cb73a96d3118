import Database from "better-sqlite3";
import type { Database as SqliteDatabase } from "better-sqlite3";
import { SecarcError, describeError, isSecarcError } from "../../common/errors.js";
import { coreMigrations } from "./core-schema.js";
import { migrate } from "./migrate.js";
import { createSqliteFleetBlockStore } from "./sqlite-fleet-blocks.js";
import { createSqliteGate, type SqliteGate } from "./sqlite-gate.js";
import { createSqliteSilenceStore } from "./sqlite-silences.js";
import { createSqliteTelegramStore } from "./sqlite-telegram.js";
import { asyncOperations, createCoreOperations } from "./sqlite-operations.js";
import { checkStoreFile, damaged, probeStoreWrite, quickCheckStore } from "./store-check.js";
import { sqliteCode } from "./storage-errors.js";
import type { Store, StoreOperations } from "./store.js";

export interface OpenStoreOptions {
  /** Accept a 0-byte file as a new store (`secarc controller --init`). Default: refuse it. */
  init?: boolean;
  /** The clock, for the start-up write check. Default: Date.now. */
  now?: () => number;
  /**
   * Refuse a call on the store from inside its own transaction (sqlite-gate.ts
   * `checkNesting`). Default: on when SECARC_STORE_CHECK_NESTING=1 (the test
   * run sets it, so every test's store refuses the mistake instead of hanging
   * on it), off otherwise.
   */
  checkNesting?: boolean;
}

/**
 * The SQLite Store. `db` is exposed so that other parts of the controller
 * (the Telegram bridge) keep their own tables, migrated as their own
 * component, in the same file.
 */
export interface SqliteStore extends Store {
  readonly db: SqliteDatabase;
  /** The storage error (disk full) the start-up write check met, if any: the store opened, but cannot be written yet. */
  readonly startWriteError: unknown;
}

/**
 * Opens (creating if needed) the controller database at `path` and brings
 * the core tables up to date.
 *
 * Journal mode WAL with `synchronous = FULL`: every commit syncs the WAL to
 * disk before it returns. The link acknowledges an alert or a result only
 * after its commit, and the agent then forgets it, so a commit must survive
 * a power loss, not only a crash of the process (NORMAL would only give the
 * latter). The cost of one sync per commit is shared by batching: the link
 * commits the alerts that arrive together in one transaction.
 *
 * A store is checked before it is trusted: a 0-byte file is refused unless
 * `init`, the file and its directory must be writable, `PRAGMA quick_check`
 * must pass, a schema newer than this version is refused, and one real
 * write is committed. Every refusal names the file, what was found and the
 * fix (store-check.ts).
 */
export function openSqliteStore(path: string, options: OpenStoreOptions = {}): SqliteStore {
  const db = openCheckedDatabase(path, options);
  const startWriteError = probeStoreWrite(db, path, (options.now ?? Date.now)());
  const core = createCoreOperations(db);
  const gate = createSqliteGate(db, { checkNesting: options.checkNesting ?? process.env.SECARC_STORE_CHECK_NESTING === "1" });
  const operations = asyncOperations<StoreOperations>(core, gate.call);
  return {
    ...operations,
    db,
    startWriteError,
    // In line with the core's calls: none of their writes is mixed into an open transaction.
    silences: gated(createSqliteSilenceStore(db), gate.call),
    fleetBlocks: gated(createSqliteFleetBlockStore(db), gate.call),
    telegram: createSqliteTelegramStore(db, gate),
    transaction: <T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> =>
      gate.transaction((token) => fn(asyncOperations<StoreOperations>(core, (op) => gate.callIn(token, op)))),
    close: () =>
      gate.call(() => {
        if (db.open) db.close();
      }),
  };
}

/** A part's methods (each one SQLite statement or its own transaction) called through the gate. */
function gated<T extends object>(part: T, call: SqliteGate["call"]): T {
  const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(part) as Array<[string, (...args: unknown[]) => Promise<unknown>]>) {
    wrapped[name] = (...args) => call(() => fn(...args));
  }
  return wrapped as T;
}

/** Opens the file after its checks, with the pragmas above, and migrates the core tables. */
function openCheckedDatabase(path: string, options: OpenStoreOptions): SqliteDatabase {
  checkStoreFile(path, options);
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(path);
    db.pragma("busy_timeout = 5000");
    quickCheckStore(db, path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    migrate(db, "core", coreMigrations);
    return db;
  } catch (err) {
    db?.close();
    if (isSecarcError(err, "refused")) throw err;
    const code = sqliteCode(err) ?? "";
    if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") throw damaged(path, describeError(err), err);
    throw new SecarcError("unavailable", `cannot open the controller store ${path}: ${describeError(err)}`, { cause: err });
  }
}
