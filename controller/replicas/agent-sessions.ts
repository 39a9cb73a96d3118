import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ActionRecord } from "../store/store.js";
import { CHANNELS } from "../store/postgres-replica-schema.js";
import type { PgQuery, PgSql } from "../store/postgres-types.js";
import type postgres from "postgres";
import { startClaimBatches } from "./claim-batches.js";

/**
 * One live session per agent across replicas (table `agent_sessions`).
 * A stream that opens claims its agent: the row's epoch goes up by one in
 * a transaction that also NOTIFYs `secarc_sessions`, so the replica that
 * held the agent before ends its stream (`lost`). Every write a stream makes
 * for its agent runs in a transaction that first share-locks the row and
 * checks the epoch (`fenced`): a claim waits for such writes to commit, and
 * once it has committed, a write of the older epoch is refused. A replica
 * that slept through the NOTIFY (SIGSTOP, a dead LISTEN connection) thus
 * never acks, delivers or records for an agent it no longer holds, and
 * learns of it at its first write or at the next `verify()`.
 *
 * Claims are written in batches (a reconnect herd is thousands of claims
 * at once; one transaction each would queue them on one commit apiece):
 * those requested close together share one transaction, one upsert and one
 * statement of NOTIFYs. Claims of one agent on this replica run one after
 * the other, in the order they were asked for, so the later stream always
 * gets the higher epoch. See claim-batches.ts for the rest.
 */

/** What the stream gives the replica when it claims its agent. */
export interface SessionHandlers {
  /** Writes an action to the stream (not yet marked sent); false when the stream cannot take it now. */
  send(action: ActionRecord): boolean;
  /** The agent is held elsewhere now (or this replica was reaped): end the stream, with ABORTED. */
  lost(reason: string): void;
}

/** This replica's hold on one agent, from `claim` to `release`. */
export interface AgentClaim {
  readonly agentId: string;
  readonly sessionId: string;
  /** The fencing token of this session. */
  readonly epoch: number;
  /**
   * Runs `fn` in one transaction that commits only if this claim still
   * holds the agent; otherwise rejects with a "fenced" SecarcError (and
   * the stream is told `lost`), `fn`'s writes undone.
   */
  fenced<T>(fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T>;
  /**
   * The same check inside a transaction someone else runs (the group
   * commit's): rejects with "fenced" (and tells the stream `lost`) unless
   * this claim still holds the agent; share-locks the session row until
   * that transaction ends.
   */
  check(q: PgQuery): Promise<void>;
  /**
   * Ends the claim when the stream ends. `fn` (recording the agent
   * offline) runs in the same transaction, only while the claim still
   * holds the agent; true then, false when another session has it.
   */
  release(fn?: (tx: postgres.TransactionSql) => Promise<unknown>): Promise<boolean>;
}

export interface AgentSessions {
  readonly replicaId: string;
  /** Claims `agentId` for a stream of this replica: a new epoch; the older holder is told through NOTIFY. */
  claim(agentId: string, sessionId: string, handlers: SessionHandlers): Promise<AgentClaim>;
  /** The live claim this replica has on `agentId`, if any. */
  get(agentId: string): LocalClaim | undefined;
  /** Agent ids this replica holds. */
  held(): string[];
  /** Compares every local claim with the table; ends those that are no longer this replica's. Returns how many ended. */
  verify(): Promise<number>;
  /** Ends every local claim (this replica was reaped by the others while it was away). */
  loseAll(reason: string): void;
  /** Stops listening. */
  stop(): Promise<void>;
}

/** A claim as the replica keeps it: the handlers to reach its stream. */
export interface LocalClaim extends AgentClaim {
  readonly handlers: SessionHandlers;
}

export interface AgentSessionsOptions {
  sql: PgSql;
  logger: Logger;
  replicaId: string;
  /** Called after every (re-)LISTEN, when notifications may have been missed. */
  onListen?: () => void;
}

/**
 * Inside a transaction: true when `epoch` is `agentId`'s live session;
 * share-locks its row until commit, so a newer claim waits for this
 * transaction. A replica frozen inside it (SIGSTOP) must not hold the
 * claim back for long: the server ends the transaction after
 * FENCE_IDLE_TIMEOUT_MS idle (idle_in_transaction_session_timeout, local
 * to it), which rolls its writes back.
 */
export async function checkSessionFence(q: PgQuery, agentId: string, epoch: number): Promise<boolean> {
  const rows = await q`SELECT set_config('idle_in_transaction_session_timeout', ${String(FENCE_IDLE_TIMEOUT_MS)}, true)
    FROM agent_sessions WHERE agent_id = ${agentId} AND epoch = ${epoch} AND released_at IS NULL FOR SHARE`;
  return rows.length === 1;
}

/**
 * `checkSessionFence` for many claims in one statement: the claims among
 * `claims` that are their agent's live session, their rows share-locked
 * until commit, in agent id order (the order batched claims lock them in).
 */
export async function checkSessionFences(q: PgQuery, claims: readonly AgentClaim[]): Promise<Set<AgentClaim>> {
  const ids = [...new Set(claims.map((c) => c.agentId))].sort();
  const rows = await q<Array<{ agent_id: string; epoch: number }>>`SELECT agent_id, epoch, set_config('idle_in_transaction_session_timeout', ${String(FENCE_IDLE_TIMEOUT_MS)}, true)
    FROM agent_sessions WHERE agent_id = ANY(${q.array(ids)}::text[]) AND released_at IS NULL ORDER BY agent_id FOR SHARE`;
  const epochs = new Map(rows.map((r) => [r.agent_id, r.epoch]));
  return new Set(claims.filter((c) => epochs.get(c.agentId) === c.epoch));
}

/** How long a fenced transaction may sit idle before the server ends it, ms. */
export const FENCE_IDLE_TIMEOUT_MS = 10_000;

export function fencedError(agentId: string, epoch: number): SecarcError {
  return new SecarcError("fenced", `agent ${agentId}: session epoch ${epoch} is no longer its live session (a newer stream holds it)`);
}

export async function startAgentSessions(options: AgentSessionsOptions): Promise<AgentSessions> {
  const { sql, logger, replicaId } = options;
  const log = logger.child({ replicaId });
  const local = new Map<string, LocalClaim>();

  const lose = (claim: LocalClaim, reason: string) => {
    if (local.get(claim.agentId) !== claim) return;
    local.delete(claim.agentId);
    log.info({ agentId: claim.agentId, epoch: claim.epoch, reason }, "agent session lost to another");
    claim.handlers.lost(reason);
  };

  const onNotify = (payload: string) => {
    let claimed: { agentId?: unknown; epoch?: unknown; replicaId?: unknown };
    try {
      claimed = JSON.parse(payload) as typeof claimed;
    } catch {
      return;
    }
    const mine = typeof claimed.agentId === "string" ? local.get(claimed.agentId) : undefined;
    if (mine && typeof claimed.epoch === "number" && claimed.epoch > mine.epoch) {
      lose(mine, `a newer stream for agent ${mine.agentId} opened on replica ${String(claimed.replicaId)} (epoch ${claimed.epoch})`);
    }
  };

  const batches = startClaimBatches(sql, replicaId, log);
  const listening = await sql.listen(CHANNELS.sessions, onNotify, () => {
    // Re-LISTEN after a lost connection: claims made meanwhile were not heard.
    void verify().catch((err: unknown) => log.warn({ err: describeError(err) }, "session check after re-listen failed"));
    options.onListen?.();
  });

  function makeClaim(agentId: string, sessionId: string, epoch: number, handlers: SessionHandlers): LocalClaim {
    const claim: LocalClaim = {
      agentId,
      sessionId,
      epoch,
      handlers,
      async fenced(fn) {
        try {
          return (await sql.begin(async (tx) => {
            if (!(await checkSessionFence(tx, agentId, epoch))) throw fencedError(agentId, epoch);
            return fn(tx);
          })) as Awaited<ReturnType<typeof fn>>;
        } catch (err) {
          if (err instanceof SecarcError && err.code === "fenced") lose(claim, err.message);
          throw err;
        }
      },
      async check(q) {
        if (await checkSessionFence(q, agentId, epoch)) return;
        const err = fencedError(agentId, epoch);
        lose(claim, err.message);
        throw err;
      },
      async release(fn) {
        if (local.get(agentId) === claim) local.delete(agentId);
        return (await sql.begin(async (tx) => {
          const rows = await tx`UPDATE agent_sessions SET released_at = secarc_now_ms()
            WHERE agent_id = ${agentId} AND epoch = ${epoch} AND released_at IS NULL RETURNING 1`;
          if (rows.length === 0) return false;
          if (fn) await fn(tx);
          return true;
        })) as boolean;
      },
    };
    return claim;
  }

  async function verify(): Promise<number> {
    const claims = [...local.values()];
    if (claims.length === 0) return 0;
    // Compared in the database: only the claims that no longer hold their agent come back (a replica holds thousands).
    const rows = await sql<Array<{ agent_id: string }>>`
      SELECT c.agent_id FROM unnest(${sql.array(claims.map((c) => c.agentId))}::text[], ${sql.array(claims.map((c) => c.epoch))}::bigint[]) AS c(agent_id, epoch)
      WHERE NOT EXISTS (SELECT 1 FROM agent_sessions s WHERE s.agent_id = c.agent_id AND s.epoch = c.epoch AND s.released_at IS NULL)`;
    const gone = new Set(rows.map((r) => r.agent_id));
    let ended = 0;
    for (const claim of claims) {
      if (!gone.has(claim.agentId)) continue;
      lose(claim, `agent ${claim.agentId}: session epoch ${claim.epoch} was taken over or released while this replica did not hear it`);
      ended += 1;
    }
    return ended;
  }

  return {
    replicaId,
    claim: (agentId, sessionId, handlers) =>
      batches.claim(agentId, sessionId).then((epoch) => {
        // Runs as the claim's batch settles, before the agent's next claim here is written.
        const older = local.get(agentId);
        const claim = makeClaim(agentId, sessionId, epoch, handlers);
        if (older && older.epoch > epoch) {
          // A guard (claims of one agent here run in order): a claim older than the one held is stale already.
          handlers.lost(`a newer stream for agent ${agentId} opened on this replica (epoch ${older.epoch})`);
          return claim;
        }
        if (older) lose(older, `a newer stream for agent ${agentId} opened on this replica (epoch ${epoch})`);
        local.set(agentId, claim);
        return claim;
      }),
    get: (agentId) => local.get(agentId),
    held: () => [...local.keys()],
    verify,
    loseAll(reason) {
      for (const claim of [...local.values()]) lose(claim, reason);
    },
    async stop() {
      batches.stop();
      await listening.unlisten().catch(() => undefined);
    },
  };
}
