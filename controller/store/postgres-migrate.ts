import type { Sql } from "postgres";
import { SecarcError } from "../../common/errors.js";
import type { Migration } from "./migrate.js";

/**
 * Brings one component's tables in a PostgreSQL database up to date, as
 * migrate.ts does for SQLite: each component keeps its version in
 * `schema_versions`, every step runs once, in its own transaction (DDL is
 * transactional in PostgreSQL), in order. Replicas starting together take
 * turns through a transaction-level advisory lock, so each step runs once
 * even then. A schema newer than `steps` (a downgrade) is refused.
 */
export async function migratePostgres(sql: Sql, component: string, steps: readonly Migration[], where: string): Promise<number> {
  // CREATE TABLE IF NOT EXISTS is not safe against a concurrent one: under the lock too.
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('secarc.migrate'), 0)`;
    await tx.unsafe("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  });
  const known = Math.max(0, ...steps.map((s) => s.version));
  let current = 0;
  for (const step of [...steps].sort((a, b) => a.version - b.version)) {
    const applied = await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtext('secarc.migrate'), 0)`;
      const [row] = await tx<Array<{ version: number }>>`SELECT version FROM schema_versions WHERE component = ${component}`;
      const version = row?.version ?? 0;
      if (version > known) {
        throw new SecarcError(
          "refused",
          `store ${where}: its ${component} schema is version ${version}, this secarc knows up to ${known}: ` +
            "it was written by a newer secarc; install that version (or newer) again, or restore a backup made before the upgrade",
        );
      }
      if (step.version <= version) return version;
      await tx.unsafe(step.sql).simple();
      await tx`INSERT INTO schema_versions (component, version) VALUES (${component}, ${step.version})
        ON CONFLICT (component) DO UPDATE SET version = excluded.version`;
      return step.version;
    });
    current = Math.max(current, applied);
  }
  if (steps.length === 0) {
    const [row] = await sql<Array<{ version: number }>>`SELECT version FROM schema_versions WHERE component = ${component}`;
    current = row?.version ?? 0;
  }
  return current;
}
