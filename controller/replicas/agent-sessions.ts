import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ActionRecord } from "../store/store.js";
import { CHANNELS } from "../store/postgres-replica-schema.js";
import type { PgQuery, PgSql } from "../store/postgres-types.js";
import type postgres from "postgres";

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
 * gets the higher epoch. See `startClaimBatches` for the rest.
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
    const rows = await sql<Array<{ agent_id: string; epoch: number; released_at: number | null }>>`
      SELECT agent_id, epoch, released_at FROM agent_sessions WHERE agent_id = ANY(${sql.array(claims.map((c) => c.agentId))}::text[])`;
    const live = new Map(rows.filter((r) => r.released_at === null).map((r) => [r.agent_id, r.epoch]));
    let ended = 0;
    for (const claim of claims) {
      if (live.get(claim.agentId) === claim.epoch) continue;
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

/** Claims written together at most, per transaction. */
export const CLAIM_BATCH_MAX = 500;
/**
 * Batches in flight at once. Two: the next batch is written while the one
 * before waits for its commit (or on a row another replica is inserting),
 * and a claim herd still leaves most of the pool to the stream's writes.
 * Their agents never overlap (claims of one agent run one after the other),
 * so they never wait for each other.
 */
const CLAIM_BATCHES_IN_FLIGHT = 2;
/** A claim whose row another transaction holds goes into a later batch after this long times its tries, ms... */
const BUSY_RETRY_MS = 20;
/** ...this many times; then it waits for the row in a transaction of its own (a lock queue is fair; a retry may keep missing). */
const BUSY_TRIES = 3;
/** Claims waiting for their row at once (each holds a connection while it waits). */
const WAITING_IN_FLIGHT = 2;

interface ClaimBatches {
  /** The claim's new epoch, once written and NOTIFYed. */
  claim(agentId: string, sessionId: string): Promise<number>;
  /** Refuses claims from now on. */
  stop(): void;
}

/** A claim asked for and not yet written. */
interface ClaimRequest {
  agentId: string;
  sessionId: string;
  /** Batches that found its row held by another transaction. */
  busy: number;
  resolve(epoch: number): void;
  reject(err: unknown): void;
}

/**
 * Writes claims in batches. Claims asked for in one turn of the event loop
 * (and while both batches in flight run) form a batch of up to
 * CLAIM_BATCH_MAX: one transaction first locks the rows no one else holds
 * (SKIP LOCKED), then upserts all of them but those, epoch + 1 each, in
 * agent-id order (so two replicas inserting the same new agents wait for
 * each other rather than deadlock), then NOTIFYs each claim with the payload
 * `onNotify` parses. A row another transaction holds (a fenced write of the
 * older stream, the heartbeat releasing a dead replica's sessions) does not
 * hold the batch back: that claim tries again in a later batch, and at last
 * waits for the row on its own, as a claim must commit after the fenced
 * writes in flight. A claim of an agent goes in only after its previous
 * claim here settled, so a batch never holds one agent twice. A failed
 * batch rejects each of its claims; the next batch runs all the same.
 */
function startClaimBatches(sql: PgSql, replicaId: string, log: Logger): ClaimBatches {
  const queue: ClaimRequest[] = [];
  const waiting: ClaimRequest[] = [];
  /** Per agent, the end of its last claim asked for here (never rejects). */
  const lastOfAgent = new Map<string, Promise<void>>();
  let scheduled = false;
  let inFlight = 0;
  let waitingInFlight = 0;
  let stopped = false;

  const enqueue = (request: ClaimRequest) => {
    if (stopped) return request.reject(new SecarcError("unavailable", `agent ${request.agentId}: the replica's sessions are stopped`));
    queue.push(request);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };

  const pump = () => {
    while (inFlight < CLAIM_BATCHES_IN_FLIGHT && queue.length > 0) {
      const batch = queue.splice(0, CLAIM_BATCH_MAX);
      inFlight += 1;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  };

  async function runBatch(batch: ClaimRequest[]): Promise<void> {
    let epochs: Map<string, number>;
    try {
      epochs = await writeBatch(batch);
    } catch (err) {
      log.warn({ err: describeError(err), claims: batch.length }, "a batch of agent claims failed; its streams are refused");
      for (const request of batch) request.reject(err);
      return;
    }
    for (const request of batch) {
      const epoch = epochs.get(request.agentId);
      if (epoch !== undefined) request.resolve(epoch);
      else if (++request.busy < BUSY_TRIES) setTimeout(() => enqueue(request), BUSY_RETRY_MS * request.busy);
      else {
        waiting.push(request);
        pumpWaiting();
      }
    }
  }

  /** The epochs of the claims written; those missing found their row held by another transaction. */
  async function writeBatch(batch: ClaimRequest[]): Promise<Map<string, number>> {
    const ids = sql.array(batch.map((r) => r.agentId));
    return (await sql.begin(async (tx) => {
      const held = await tx<Array<{ agent_id: string }>>`
        WITH free AS MATERIALIZED (
          SELECT agent_id FROM agent_sessions WHERE agent_id = ANY(${ids}::text[]) FOR NO KEY UPDATE SKIP LOCKED
        )
        SELECT agent_id FROM agent_sessions WHERE agent_id = ANY(${ids}::text[]) AND agent_id NOT IN (SELECT agent_id FROM free)`;
      const heldIds = new Set(held.map((r) => r.agent_id));
      const claims = batch.filter((r) => !heldIds.has(r.agentId));
      if (claims.length === 0) return new Map<string, number>();
      const rows = await tx<Array<{ agent_id: string; epoch: number }>>`
        INSERT INTO agent_sessions AS s (agent_id, epoch, replica_id, session_id, claimed_at)
        SELECT c.agent_id, 1, ${replicaId}, c.session_id, secarc_now_ms()
        FROM unnest(${sql.array(claims.map((r) => r.agentId))}::text[], ${sql.array(claims.map((r) => r.sessionId))}::text[]) AS c(agent_id, session_id)
        ORDER BY c.agent_id
        ON CONFLICT (agent_id) DO UPDATE SET epoch = s.epoch + 1, replica_id = excluded.replica_id,
          session_id = excluded.session_id, claimed_at = excluded.claimed_at, released_at = NULL
        RETURNING agent_id, epoch`;
      const payloads = rows.map((r) => JSON.stringify({ agentId: r.agent_id, epoch: r.epoch, replicaId }));
      await tx`SELECT pg_notify(${CHANNELS.sessions}, p) FROM unnest(${sql.array(payloads)}::text[]) AS p`;
      return new Map(rows.map((r) => [r.agent_id, r.epoch]));
    })) as Map<string, number>;
  }

  /** One claim in a transaction of its own, waiting for its row. */
  async function writeOne(request: ClaimRequest): Promise<number> {
    const { agentId, sessionId } = request;
    return (await sql.begin(async (tx) => {
      const [row] = await tx<Array<{ epoch: number }>>`
        INSERT INTO agent_sessions AS s (agent_id, epoch, replica_id, session_id, claimed_at)
        VALUES (${agentId}, 1, ${replicaId}, ${sessionId}, secarc_now_ms())
        ON CONFLICT (agent_id) DO UPDATE SET epoch = s.epoch + 1, replica_id = excluded.replica_id,
          session_id = excluded.session_id, claimed_at = excluded.claimed_at, released_at = NULL
        RETURNING epoch`;
      await tx`SELECT pg_notify(${CHANNELS.sessions}, ${JSON.stringify({ agentId, epoch: row!.epoch, replicaId })})`;
      return row!.epoch;
    })) as number;
  }

  const pumpWaiting = () => {
    while (waitingInFlight < WAITING_IN_FLIGHT && waiting.length > 0) {
      const request = waiting.shift()!;
      waitingInFlight += 1;
      void writeOne(request)
        .then(request.resolve, request.reject)
        .finally(() => {
          waitingInFlight -= 1;
          pumpWaiting();
        });
    }
  };

  return {
    claim(agentId, sessionId) {
      const before = lastOfAgent.get(agentId);
      const claimed = new Promise<number>((resolve, reject) => {
        const request: ClaimRequest = { agentId, sessionId, busy: 0, resolve, reject };
        if (before) void before.then(() => enqueue(request));
        else enqueue(request);
      });
      const settled = claimed.then(
        () => undefined,
        () => undefined,
      );
      lastOfAgent.set(agentId, settled);
      void settled.then(() => {
        if (lastOfAgent.get(agentId) === settled) lastOfAgent.delete(agentId);
      });
      return claimed;
    },
    stop() {
      stopped = true;
    },
  };
}
