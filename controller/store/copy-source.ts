import { existsSync } from "node:fs";
import { connect } from "node:net";
import Database from "better-sqlite3";
import { SecarcError, describeError } from "../../common/errors.js";
import { sqliteCode } from "./storage-errors.js";

/** Tables that only the SQLite store has, with nothing to move: store_checks is its start-up write probe (store-check.ts). */
export const SQLITE_ONLY_TABLES: readonly string[] = ["store_checks"];

const STOP_HINT = "stop it first (systemctl stop secarc-controller), then copy again";

/**
 * The SQLite store a copy reads, held so that no controller can use it
 * meanwhile: opened in exclusive locking mode inside an exclusive
 * transaction, which fails at once while any controller has the file open
 * (and keeps one from starting on it until `close`). The admin socket is
 * asked first, for a clearer refusal.
 */
export interface CopySource {
  db: Database.Database;
  /** Schema version of each component ("core", "telegram", ...). */
  versions: Map<string, number>;
  /** The tables to copy: every table but SQLite's own, schema_versions and the SQLite store's own bookkeeping (SQLITE_ONLY_TABLES). */
  tables: string[];
  close(): void;
}

export async function openCopySource(path: string, adminSocket: string | undefined): Promise<CopySource> {
  if (!existsSync(path)) throw new SecarcError("input_invalid", `no SQLite store at ${path}`);
  if (adminSocket && (await socketAnswers(adminSocket))) {
    throw new SecarcError("refused", `the controller is running (its admin socket ${adminSocket} answers): ${STOP_HINT}`);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma("busy_timeout = 0");
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
    const check = db.pragma("quick_check", { simple: true });
    if (check !== "ok") throw new SecarcError("refused", `${path} fails SQLite's quick_check (${String(check)}): restore a backup first (docs/operations.md)`);
  } catch (err) {
    db?.close();
    if (err instanceof SecarcError) throw err;
    const code = sqliteCode(err) ?? "";
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
      throw new SecarcError("refused", `${path} is in use (a controller has it open): ${STOP_HINT}`, { cause: err });
    }
    throw new SecarcError("input_invalid", `cannot read the SQLite store ${path}: ${describeError(err)}`, { cause: err });
  }
  const open = db;
  const hasVersions = open.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'").get() !== undefined;
  if (!hasVersions) {
    open.close();
    throw new SecarcError("input_invalid", `${path} is not a SecARC controller store (no schema_versions table)`);
  }
  const versions = new Map((open.prepare("SELECT component, version FROM schema_versions").all() as Array<{ component: string; version: number }>).map((r) => [r.component, r.version]));
  const tables = (open.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_versions' ORDER BY name").all() as Array<{ name: string }>)
    .map((r) => r.name)
    .filter((name) => !SQLITE_ONLY_TABLES.includes(name));
  return {
    db: open,
    versions,
    tables,
    close() {
      if (!open.open) return;
      try {
        open.exec("ROLLBACK");
      } finally {
        open.close();
      }
    },
  };
}

/** Whether something accepts connections on the unix socket `path` (within 2 s). */
function socketAnswers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
