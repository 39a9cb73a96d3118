import { hostname } from "node:os";
import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { PgSql } from "../store/postgres-types.js";

/**
 * Replicas heartbeat a row each (table `replicas`); every beat also looks
 * for replicas silent longer than `deadAfterMs` and reaps them, once (FOR
 * UPDATE SKIP LOCKED: one survivor does it): their agents' sessions are
 * released, so their epochs fence nothing in any more, and those agents
 * not already back on another replica are recorded offline *as of the
 * reaping* (`last_seen` = now). The presence check then counts
 * offlineAlertAfter from the failover, not from the agent's last message
 * before it: agents that reconnect within the grace are never paged.
 *
 * A replica that finds itself reaped at its next beat (it was frozen or cut
 * off for longer than deadAfterMs) is told through `onReaped`: its claims
 * are void and its streams must end; it beats on as a fresh member.
 */
export interface ReplicaHeartbeatOptions {
  sql: PgSql;
  logger: Logger;
  replicaId: string;
  /** How often this replica beats and looks for dead ones. Default: 2 s. */
  everyMs?: number;
  /** A replica silent this long is dead. Default: 15 s. */
  deadAfterMs?: number;
  /** One survivor reaped `replicaIds`; `agentIds` were recorded offline (publish their "agent offline" events). */
  onFailover?: (replicaIds: string[], agentIds: string[]) => void;
  /** This replica was reaped while it was away: end every stream it holds. */
  onReaped?: () => void;
}

export interface ReplicaHeartbeat {
  /** One beat now (the timer does this every everyMs). */
  beat(): Promise<BeatOutcome>;
  /** Stops beating and marks this replica stopped (a stopped replica is not reaped). */
  stop(): Promise<void>;
}

export interface BeatOutcome {
  /** This replica had been reaped before this beat. */
  wasReaped: boolean;
  /** Replicas this beat reaped, and the agents it took offline. */
  reaped: string[];
  offline: string[];
}

/** Reaps silent replicas in one statement; returns them and the agents taken offline. */
async function reapDead(sql: PgSql, replicaId: string, deadAfterMs: number): Promise<{ reaped: string[]; offline: string[] }> {
  const [row] = await sql<Array<{ reaped: string[] | null; offline: string[] | null }>>`
    WITH t AS MATERIALIZED (SELECT secarc_now_ms() AS now), dead AS (
      SELECT replica_id FROM replicas, t
      WHERE replica_id <> ${replicaId} AND stopped_at IS NULL AND reaped_at IS NULL AND heartbeat_at < t.now - ${deadAfterMs}
      FOR UPDATE OF replicas SKIP LOCKED
    ), marked AS (
      UPDATE replicas r SET reaped_at = t.now FROM dead, t WHERE r.replica_id = dead.replica_id RETURNING r.replica_id
    ), released AS (
      UPDATE agent_sessions s SET released_at = t.now FROM marked, t
      WHERE s.replica_id = marked.replica_id AND s.released_at IS NULL RETURNING s.agent_id
    ), offline AS (
      UPDATE agents a SET online = 0, last_seen = GREATEST(a.last_seen, t.now) FROM released, t
      WHERE a.agent_id = released.agent_id AND a.online = 1 RETURNING a.agent_id
    )
    SELECT (SELECT array_agg(replica_id) FROM marked) AS reaped, (SELECT array_agg(agent_id) FROM offline) AS offline`;
  return { reaped: row?.reaped ?? [], offline: row?.offline ?? [] };
}

/**
 * Agents recorded online that no live session holds (a store copied from
 * SQLite, rows of a controller before replicas): offline as of now. Never
 * wrong while streams run, since a stream claims its agent before it records
 * it online and records it offline before it releases the claim.
 */
async function settleOrphans(sql: PgSql): Promise<string[]> {
  const rows = await sql<Array<{ agent_id: string }>>`
    UPDATE agents a SET online = 0, last_seen = GREATEST(a.last_seen, secarc_now_ms())
    WHERE a.online = 1 AND NOT EXISTS (SELECT 1 FROM agent_sessions s WHERE s.agent_id = a.agent_id AND s.released_at IS NULL)
    RETURNING a.agent_id`;
  return rows.map((r) => r.agent_id);
}

export async function startReplicaHeartbeat(options: ReplicaHeartbeatOptions): Promise<ReplicaHeartbeat> {
  const { sql, logger, replicaId } = options;
  const everyMs = options.everyMs ?? 2_000;
  const deadAfterMs = options.deadAfterMs ?? 15_000;
  if (deadAfterMs < 3 * everyMs) throw new SecarcError("config_invalid", `replica heartbeat: deadAfterMs (${deadAfterMs}) must be at least three beats (${3 * everyMs})`);
  const log = logger.child({ replicaId });
  await sql`INSERT INTO replicas (replica_id, host, pid, started_at, heartbeat_at) VALUES (${replicaId}, ${hostname()}, ${process.pid}, secarc_now_ms(), secarc_now_ms())`;
  const orphans = await settleOrphans(sql);
  if (orphans.length > 0) log.info({ agents: orphans.length }, "agents recorded online without a live session anywhere are offline as of now");
  let stopped = false;
  let running: Promise<BeatOutcome> | undefined;

  async function beatNow(): Promise<BeatOutcome> {
    const wasReaped = (await sql.begin(async (tx) => {
      const [row] = await tx<Array<{ reaped_at: number | null }>>`SELECT reaped_at FROM replicas WHERE replica_id = ${replicaId} FOR UPDATE`;
      if (!row) {
        await tx`INSERT INTO replicas (replica_id, host, pid, started_at, heartbeat_at) VALUES (${replicaId}, ${hostname()}, ${process.pid}, secarc_now_ms(), secarc_now_ms())`;
        return true; // its row is gone: whatever it held was taken over long ago
      }
      await tx`UPDATE replicas SET heartbeat_at = secarc_now_ms(), reaped_at = NULL WHERE replica_id = ${replicaId}`;
      return row.reaped_at !== null;
    })) as boolean;
    if (wasReaped) {
      log.warn({ deadAfterMs }, `this replica was silent for longer than ${deadAfterMs} ms and the others took its agents over; ending its streams`);
      options.onReaped?.();
    }
    const { reaped, offline } = await reapDead(sql, replicaId, deadAfterMs);
    if (reaped.length > 0) {
      log.warn({ reaped, agents: offline.length }, `replica(s) ${reaped.join(", ")} silent for more than ${deadAfterMs} ms: their agents are offline as of now until they reconnect`);
      options.onFailover?.(reaped, offline);
    }
    return { wasReaped, reaped, offline };
  }

  const beat = () => (running ??= beatNow().finally(() => (running = undefined)));
  const timer = setInterval(() => {
    if (!stopped) void beat().catch((err: unknown) => log.warn({ err: describeError(err) }, "replica heartbeat failed; retried"));
  }, everyMs);
  timer.unref();

  return {
    beat,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
      try {
        await sql`UPDATE replicas SET stopped_at = secarc_now_ms() WHERE replica_id = ${replicaId}`;
      } catch (err) {
        log.warn({ err: describeError(err) }, `could not mark this replica stopped; the others reap it after ${deadAfterMs} ms`);
      }
    },
  };
}
