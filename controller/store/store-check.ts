import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Database as SqliteDatabase } from "better-sqlite3";
import { SecarcError, describeError } from "../../common/errors.js";
import { isStorageError, sqliteCode } from "./storage-errors.js";

/** What an operator does about a damaged or lost store: the words every refusal ends with. */
export const RESTORE_HINT = "restore the last backup (`secarc backup FILE` makes one; see docs/operations.md, \"Store checks and restore\")";

const uid = (): string => (typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : "");

/**
 * Before the file is opened: a 0-byte file is not a new store (a store lost
 * to a crash or a bad copy must not silently start empty) unless `init`,
 * and the file and its directory (WAL and shared-memory files live beside
 * it) must be writable by this user.
 */
export function checkStoreFile(path: string, options: { init?: boolean } = {}): void {
  const dir = dirname(resolve(path));
  if (existsSync(path)) {
    const size = statSync(path).size;
    if (size === 0 && !options.init) {
      throw new SecarcError(
        "refused",
        `the controller store ${path} is an empty file (0 bytes), not a SecARC store: if a store was lost, ${RESTORE_HINT}; ` +
          "if this is a new installation, start once with `secarc controller --init` (or delete the file)",
      );
    }
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
    } catch {
      throw new SecarcError("refused", `the controller store ${path} is not writable by this user${uid()}: give the service user the file and its directory (e.g. \`chown -R secarc: ${dir}\`)`);
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new SecarcError("refused", `the directory of the controller store ${dir} is not writable by this user${uid()} (SQLite keeps its WAL beside the file): \`chown secarc: ${dir}\``);
  }
}

/** After the file is opened: `PRAGMA quick_check` (structure of every page and b-tree, in seconds even for large stores). */
export function quickCheckStore(db: SqliteDatabase, path: string): void {
  let problems: string[];
  try {
    problems = (db.pragma("quick_check(5)") as Array<{ quick_check: string }>).map((row) => row.quick_check);
  } catch (err) {
    throw damaged(path, describeError(err), err);
  }
  if (problems.length !== 1 || problems[0] !== "ok") throw damaged(path, problems.join("; "));
}

/** `PRAGMA integrity_check` (also compares every index with its table): `secarc store check`. Returns the problems found, none when sound. */
export function integrityCheckStore(db: SqliteDatabase): string[] {
  const rows = (db.pragma("integrity_check(100)") as Array<{ integrity_check: string }>).map((row) => row.integrity_check);
  return rows.length === 1 && rows[0] === "ok" ? [] : rows;
}

/**
 * A real committed write (the time of this check), so that a store the
 * service user cannot write is refused at start rather than at the first
 * alert. A full disk is not refused: it is a state the controller runs
 * through (store health); it is returned for the caller to report.
 */
export function probeStoreWrite(db: SqliteDatabase, path: string, at: number): unknown {
  try {
    db.exec("CREATE TABLE IF NOT EXISTS store_checks (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at INTEGER NOT NULL)");
    db.prepare("INSERT INTO store_checks (id, checked_at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at").run(at);
    return undefined;
  } catch (err) {
    const code = sqliteCode(err) ?? "";
    if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN") || code.startsWith("SQLITE_PERM")) {
      throw new SecarcError("refused", `the controller store ${path} cannot be written${uid()}: ${describeError(err)} (${code}): give the service user the file and its directory`, { cause: err });
    }
    if (code.startsWith("SQLITE_CORRUPT") || code.startsWith("SQLITE_NOTADB")) throw damaged(path, describeError(err), err);
    if (isStorageError(err)) return err;
    throw err;
  }
}

/** The refusal for a damaged store, naming the file, what was found and the fix. */
export function damaged(path: string, found: string, cause?: unknown): SecarcError {
  return new SecarcError("refused", `the controller store ${path} is damaged (${found}): stop the controller and ${RESTORE_HINT}; \`secarc store check --config FILE\` lists every problem`, cause === undefined ? {} : { cause });
}
