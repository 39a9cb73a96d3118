import type { Database } from "better-sqlite3";
import type { SilenceStore } from "./silence-store.js";
import type { Silence, SilenceMatcher } from "../domain/silences.js";
import { migrate, type Migration } from "./migrate.js";

/** The silences' table, in the controller's SQLite file (component "silences"). */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE silences (
        silence_id TEXT PRIMARY KEY,
        matcher TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        origin TEXT NOT NULL,
        ended_at INTEGER,
        digested_at INTEGER
      );
      CREATE INDEX silences_end ON silences (ends_at);
    `,
  },
];

interface SilenceRow {
  silence_id: string;
  matcher: string;
  starts_at: number;
  ends_at: number;
  created_by: string;
  origin: string;
  ended_at: number | null;
  digested_at: number | null;
}

/** Silences kept in SQLite; every write is durable when its promise resolves. */
export function createSqliteSilenceStore(db: Database): SilenceStore {
  migrate(db, "silences", MIGRATIONS);
  const stmt = {
    save: db.prepare(`INSERT INTO silences (silence_id, matcher, starts_at, ends_at, created_by, origin, ended_at, digested_at)
      VALUES (@silenceId, @matcher, @startsAt, @endsAt, @createdBy, @origin, @endedAt, @digestedAt) ON CONFLICT (silence_id) DO NOTHING`),
    end: db.prepare("UPDATE silences SET ended_at = @at WHERE silence_id = @id AND ended_at IS NULL AND ends_at > @at AND starts_at <= @at"),
    digested: db.prepare("UPDATE silences SET digested_at = coalesce(digested_at, @at) WHERE silence_id = @id"),
    list: db.prepare("SELECT * FROM silences WHERE coalesce(min(ends_at, ended_at), ends_at) > @after OR digested_at IS NULL ORDER BY starts_at, silence_id"),
  };
  return {
    async saveSilence(silence) {
      stmt.save.run({
        silenceId: silence.silenceId,
        matcher: JSON.stringify(silence.matcher),
        startsAt: silence.startsAt,
        endsAt: silence.endsAt,
        createdBy: silence.createdBy,
        origin: silence.origin,
        endedAt: silence.endedAt ?? null,
        digestedAt: silence.digestedAt ?? null,
      });
    },
    async endSilence(silenceId, at) {
      return stmt.end.run({ id: silenceId, at: at.getTime() }).changes > 0;
    },
    async markSilenceDigested(silenceId, at) {
      stmt.digested.run({ id: silenceId, at: at.getTime() });
    },
    async listSilences(after) {
      return (stmt.list.all({ after: after.getTime() }) as SilenceRow[]).map(toSilence);
    },
  };
}

function toSilence(row: SilenceRow): Silence {
  const matcher = JSON.parse(row.matcher) as SilenceMatcher;
  return {
    silenceId: row.silence_id,
    matcher: { ...(matcher.agentId !== undefined ? { agentId: matcher.agentId } : {}), labels: matcher.labels ?? {}, kinds: matcher.kinds ?? [] },
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    createdBy: row.created_by,
    origin: row.origin === "window" ? "window" : "command",
    ...(row.ended_at !== null ? { endedAt: row.ended_at } : {}),
    ...(row.digested_at !== null ? { digestedAt: row.digested_at } : {}),
  };
}
