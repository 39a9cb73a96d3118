import type { Migration } from "./migrate.js";
import { migratePostgres } from "./postgres-migrate.js";
import type { PgSql } from "./postgres-types.js";

/**
 * What controller replicas sharing one PostgreSQL database agree through
 * (component "replicas", migrated after "core" whose `actions` table it
 * watches). Nothing here is copied by `secarc store copy`: it is the live
 * state of running replicas, rebuilt as they start.
 *
 * - `replicas`: one row per controller process, its heartbeat; a survivor
 *   marks a silent one reaped and takes its agents offline (failover).
 * - `agent_sessions`: the one live session of each agent, with its epoch
 *   (fencing token), bumped by every claim.
 * - `leases`: named leases (the Telegram voice), holder and epoch.
 * - `telegram_updates`: update_ids already handled, so that no tap is
 *   handled twice across a lease change or by two webhook replicas.
 * - `telegram_inbox` (version 2): updates Telegram posted to the webhook of
 *   any replica, until the lease holder has handled them; a trigger
 *   NOTIFYs `secarc_telegram_inbox`.
 * - A trigger on `actions` notifies channel `secarc_actions` with the
 *   agent id in the transaction that stores an action, whatever code path
 *   stores it (taps, the no-answer policy, fleet blocks).
 *
 * Times are Unix milliseconds of the database's clock (`secarc_now_ms()`),
 * never a replica's: replicas on different hosts compare one clock.
 */
export const postgresReplicaMigrations: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE FUNCTION secarc_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE
        AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;
      CREATE TABLE replicas (
        replica_id   TEXT PRIMARY KEY,
        host         TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        started_at   BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        stopped_at   BIGINT,
        reaped_at    BIGINT
      );
      CREATE TABLE agent_sessions (
        agent_id    TEXT PRIMARY KEY,
        epoch       BIGINT NOT NULL,
        replica_id  TEXT NOT NULL,
        session_id  TEXT NOT NULL,
        claimed_at  BIGINT NOT NULL,
        released_at BIGINT
      );
      CREATE INDEX agent_sessions_replica ON agent_sessions (replica_id) WHERE released_at IS NULL;
      CREATE TABLE leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        epoch       BIGINT NOT NULL,
        acquired_at BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL
      );
      CREATE TABLE telegram_updates (
        update_id  BIGINT PRIMARY KEY,
        handled_at BIGINT NOT NULL,
        replica_id TEXT NOT NULL
      );
      CREATE INDEX telegram_updates_age ON telegram_updates (handled_at);
      CREATE INDEX actions_pending ON actions (agent_id) WHERE state = 'pending';
      CREATE FUNCTION secarc_notify_action() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('secarc_actions', NEW.agent_id);
          RETURN NULL;
        END $$;
      CREATE TRIGGER actions_notify AFTER INSERT ON actions FOR EACH ROW EXECUTE FUNCTION secarc_notify_action();
    `,
  },
  {
    version: 2,
    sql: `
      CREATE TABLE telegram_inbox (
        update_id   BIGINT PRIMARY KEY,
        body        JSONB NOT NULL,
        received_at BIGINT NOT NULL,
        replica_id  TEXT NOT NULL
      );
      CREATE FUNCTION secarc_notify_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('secarc_telegram_inbox', NEW.update_id::text);
          RETURN NULL;
        END $$;
      CREATE TRIGGER telegram_inbox_notify AFTER INSERT ON telegram_inbox FOR EACH ROW EXECUTE FUNCTION secarc_notify_inbox();
    `,
  },
];

/** Brings the replicas' tables up to date (the core tables must be there: openPostgresStore migrates them first). */
export function migrateReplicaTables(sql: PgSql, where: string): Promise<number> {
  return migratePostgres(sql, "replicas", postgresReplicaMigrations, where);
}

/** The NOTIFY channels replicas listen on. */
export const CHANNELS = {
  /** Payload: the agent id of a stored action. */
  actions: "secarc_actions",
  /** Payload: JSON {agentId, epoch, replicaId} of a claim. */
  sessions: "secarc_sessions",
  /** Payload: the update_id of an update stored by a replica's webhook. */
  telegramInbox: "secarc_telegram_inbox",
} as const;
