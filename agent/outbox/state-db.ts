import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Database as Db } from "better-sqlite3";
import { SecarcError, describeError } from "../../common/errors.js";

/** The file, inside the agent's stateDir, that holds the outbox and the action journal. */
export const STATE_DB_FILE = "agent.db";

/** One schema step of the agent's state database, applied once, in order, in a transaction. */
interface Step {
  version: number;
  sql: string;
}

const STEPS: readonly Step[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('alert', 'result')),
        key TEXT NOT NULL,
        revision INTEGER NOT NULL,
        payload BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (kind, key)
      );
      CREATE TABLE journal (
        action_id TEXT PRIMARY KEY,
        answer INTEGER NOT NULL,
        action BLOB NOT NULL,
        boot_id TEXT NOT NULL,
        begun_at INTEGER NOT NULL,
        result BLOB,
        finished_at INTEGER,
        acked_at INTEGER
      );
      CREATE INDEX journal_unfinished ON journal (finished_at) WHERE finished_at IS NULL;
    `,
  },
];

/**
 * Opens (creating when needed) the agent's one SQLite file in `stateDir`:
 * WAL journal with synchronous=FULL, so that a write has reached the disk
 * when the statement returns — the outbox relies on it ("written before
 * sent") and so does the action journal ("recorded before executed").
 */
export function openStateDb(stateDir: string): Db {
  let db: Db;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    db = new Database(join(stateDir, STATE_DB_FILE));
  } catch (err) {
    throw new SecarcError("internal", `cannot open agent state in ${stateDir}: ${describeError(err)}`, { cause: err });
  }
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  migrateStateDb(db);
  return db;
}

function migrateStateDb(db: Db): void {
  const current = Number(db.pragma("user_version", { simple: true }));
  for (const step of STEPS) {
    if (step.version <= current) continue;
    db.transaction(() => {
      db.exec(step.sql);
      db.pragma(`user_version = ${step.version}`);
    })();
  }
}
