import type { Database } from "better-sqlite3";
import { SecarcError } from "../../common/errors.js";

/** One schema step; steps of a component run in order, each once, in a transaction. */
export interface Migration {
  /** Increasing from 1 within its component. */
  version: number;
  sql: string;
}

/**
 * Brings one component's tables (e.g. "core", "telegram") up to date. Each
 * component keeps its own version, so the parts of the controller that own
 * tables migrate independently in one SQLite file.
 */
export function migrate(db: Database, component: string, steps: readonly Migration[]): number {
  db.exec("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  const row = db.prepare("SELECT version FROM schema_versions WHERE component = ?").get(component) as { version: number } | undefined;
  let current = row?.version ?? 0;
  const known = Math.max(0, ...steps.map((s) => s.version));
  if (current > known) {
    // Written by a newer secarc (a downgrade): its tables may mean things this
    // version does not know. Refuse rather than run on, or "repair", them.
    throw new SecarcError(
      "refused",
      `store ${db.name}: its ${component} schema is version ${current}, this secarc knows up to ${known}: ` +
        "it was written by a newer secarc; install that version (or newer) again, or restore a backup made before the upgrade",
    );
  }
  const apply = db.transaction((step: Migration) => {
    db.exec(step.sql);
    db.prepare("INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version").run(component, step.version);
  });
  for (const step of [...steps].sort((a, b) => a.version - b.version)) {
    if (step.version <= current) continue;
    apply(step);
    current = step.version;
  }
  return current;
}
