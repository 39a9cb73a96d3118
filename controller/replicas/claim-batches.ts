import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { CHANNELS } from "../store/postgres-replica-schema.js";
import type { PgSql } from "../store/postgres-types.js";

/*
 * How agent sessions' claims are written (agent-sessions.ts claims through
 * it): a reconnect herd is thousands of claims at once, and one transaction
 * each would queue them on one commit apiece, so claims requested close
 * together share one statement: it locks, upserts and NOTIFYs them all.
 */

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

export interface ClaimBatches {
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
 * CLAIM_BATCH_MAX: one statement (its own transaction) locks the rows no
 * one else holds (SKIP LOCKED), upserts all of them but those, epoch + 1
 * each, in agent-id order (so two replicas inserting the same new agents
 * wait for each other rather than deadlock), and NOTIFYs each claim with
 * the payload `onNotify` parses. A row another transaction holds (a fenced write of the
 * older stream, the heartbeat releasing a dead replica's sessions) does not
 * hold the batch back: that claim tries again in a later batch, and at last
 * waits for the row on its own, as a claim must commit after the fenced
 * writes in flight. A claim of an agent goes in only after its previous
 * claim here settled, so a batch never holds one agent twice. A failed
 * batch rejects each of its claims; the next batch runs all the same.
 */
export function startClaimBatches(sql: PgSql, replicaId: string, log: Logger): ClaimBatches {
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
      epochs = await writeClaims(batch, true);
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

  /**
   * The epochs of the claims written, each NOTIFYed. With `skipHeld`, a
   * claim whose row another transaction holds is left out (missing from the
   * result) instead of waiting for that row. One statement, so one round
   * trip: a survivor under a reconnect herd has long event-loop turns, and
   * each round trip of a claim waits for one, while the agents' connect
   * timeouts run.
   */
  async function writeClaims(requests: readonly ClaimRequest[], skipHeld: boolean): Promise<Map<string, number>> {
    // Without skipHeld nothing refers to `free` and `held`, and PostgreSQL does not run them: the upsert waits for the row.
    const ids = sql.array(requests.map((r) => r.agentId));
    const rows = await sql<Array<{ agent_id: string; epoch: number }>>`
      WITH free AS MATERIALIZED (
        SELECT agent_id FROM agent_sessions WHERE agent_id = ANY(${ids}::text[]) FOR NO KEY UPDATE SKIP LOCKED
      ),
      held AS MATERIALIZED (
        SELECT agent_id FROM agent_sessions WHERE agent_id = ANY(${ids}::text[]) AND agent_id NOT IN (SELECT agent_id FROM free)
      ),
      claimed AS (
        INSERT INTO agent_sessions AS s (agent_id, epoch, replica_id, session_id, claimed_at)
        SELECT c.agent_id, 1, ${replicaId}, c.session_id, secarc_now_ms()
        FROM unnest(${ids}::text[], ${sql.array(requests.map((r) => r.sessionId))}::text[]) AS c(agent_id, session_id)
        ${skipHeld ? sql`WHERE c.agent_id NOT IN (SELECT agent_id FROM held)` : sql``}
        ORDER BY c.agent_id
        ON CONFLICT (agent_id) DO UPDATE SET epoch = s.epoch + 1, replica_id = excluded.replica_id,
          session_id = excluded.session_id, claimed_at = excluded.claimed_at, released_at = NULL
        RETURNING s.agent_id, s.epoch
      )
      SELECT agent_id, epoch, pg_notify(${CHANNELS.sessions}, json_build_object('agentId', agent_id, 'epoch', epoch, 'replicaId', ${replicaId}::text)::text)
      FROM claimed`;
    return new Map(rows.map((r) => [r.agent_id, r.epoch]));
  }

  /** One claim on its own, waiting for its row (the lock queue is fair). */
  async function writeOne(request: ClaimRequest): Promise<number> {
    const epoch = (await writeClaims([request], false)).get(request.agentId);
    if (epoch === undefined) throw new SecarcError("unavailable", `agent ${request.agentId}: its claim was not written`);
    return epoch;
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
