import type { SilenceStore } from "./silence-store.js";
import type { Silence, SilenceMatcher } from "../domain/silences.js";
import { migratePostgres } from "./postgres-migrate.js";
import type { PgSql } from "./postgres-types.js";
import type { Migration } from "./migrate.js";

/** The silences' table in PostgreSQL (component "silences"), the twin of sqlite-silences.ts. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE silences (
        silence_id  TEXT PRIMARY KEY,
        matcher     TEXT NOT NULL,
        starts_at   BIGINT NOT NULL,
        ends_at     BIGINT NOT NULL,
        created_by  TEXT NOT NULL,
        origin      TEXT NOT NULL,
        ended_at    BIGINT,
        digested_at BIGINT
      );
      CREATE INDEX silences_end ON silences (ends_at);
    `,
  },
];

interface SilenceRow {
  silence_id: string;
  matcher: string;
  starts_at: string | number;
  ends_at: string | number;
  created_by: string;
  origin: string;
  ended_at: string | number | null;
  digested_at: string | number | null;
}

/** Silences kept in PostgreSQL; migrates its table first. */
export async function openPostgresSilenceStore(sql: PgSql, where: string): Promise<SilenceStore> {
  await migratePostgres(sql, "silences", MIGRATIONS, where);
  return {
    async saveSilence(s) {
      await sql`INSERT INTO silences (silence_id, matcher, starts_at, ends_at, created_by, origin, ended_at, digested_at)
        VALUES (${s.silenceId}, ${JSON.stringify(s.matcher)}, ${s.startsAt}, ${s.endsAt}, ${s.createdBy}, ${s.origin}, ${s.endedAt ?? null}, ${s.digestedAt ?? null})
        ON CONFLICT (silence_id) DO NOTHING`;
    },
    async endSilence(silenceId, at) {
      const ms = at.getTime();
      const rows = await sql`UPDATE silences SET ended_at = ${ms} WHERE silence_id = ${silenceId} AND ended_at IS NULL AND ends_at > ${ms} AND starts_at <= ${ms} RETURNING silence_id`;
      return rows.length > 0;
    },
    async markSilenceDigested(silenceId, at) {
      await sql`UPDATE silences SET digested_at = COALESCE(digested_at, ${at.getTime()}) WHERE silence_id = ${silenceId}`;
    },
    async listSilences(after) {
      const rows = await sql<SilenceRow[]>`SELECT * FROM silences WHERE LEAST(ends_at, COALESCE(ended_at, ends_at)) > ${after.getTime()} OR digested_at IS NULL ORDER BY starts_at, silence_id`;
      return rows.map(toSilence);
    },
  };
}

function toSilence(row: SilenceRow): Silence {
  const matcher = JSON.parse(row.matcher) as SilenceMatcher;
  return {
    silenceId: row.silence_id,
    matcher: { ...(matcher.agentId !== undefined ? { agentId: matcher.agentId } : {}), labels: matcher.labels ?? {}, kinds: matcher.kinds ?? [] },
    startsAt: Number(row.starts_at),
    endsAt: Number(row.ends_at),
    createdBy: row.created_by,
    origin: row.origin === "window" ? "window" : "command",
    ...(row.ended_at !== null ? { endedAt: Number(row.ended_at) } : {}),
    ...(row.digested_at !== null ? { digestedAt: Number(row.digested_at) } : {}),
  };
}
