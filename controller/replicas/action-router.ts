import { describeError, isSecarcError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { CHANNELS } from "../store/postgres-replica-schema.js";
import { actionRecord, type ActionRow } from "../store/core-rows.js";
import { inTransaction } from "../store/postgres-store.js";
import type { PgSql } from "../store/postgres-types.js";
import type { ActionRecord } from "../store/store.js";
import type { AgentSessions } from "./agent-sessions.js";

/**
 * Answers reach the agent wherever it is. A tap on any replica stores the
 * action; the `actions_notify` trigger NOTIFYs `secarc_actions` with the
 * agent id in that same transaction. The replica that holds the agent
 * claims the agent's pending actions with FOR UPDATE SKIP LOCKED, inside
 * the session fence, writes them to the stream and marks them sent in the
 * same transaction. LISTEN can go quiet without an error, so the same
 * delivery also runs for every held agent with pending actions every
 * `sweepEveryMs`, after every re-LISTEN, and when a stream opens.
 *
 * At least once on the wire (an action written whose commit then fails is
 * still pending and goes again), exactly once in effect through the
 * agent's journal, as on one controller.
 */
export interface ActionRouter {
  /**
   * Writes `agentId`'s pending actions to its stream here, if this replica
   * holds it; returns how many were written. On a stream open, pass
   * `resendSent` (actions sent on an older stream but without a result go
   * again) and `except` (the action ids the agent said in Hello it has
   * results for).
   */
  deliver(agentId: string, options?: DeliverOptions): Promise<number>;
  /**
   * `deliver` for a stream that just opened: the agents opened in the same
   * turn are first looked up together, and only those with unfinished
   * actions get a delivery (its own fenced transaction). A reconnect herd
   * of agents without actions then costs one query per turn, not one
   * transaction per agent.
   */
  deliverOnOpen(agentId: string, options: DeliverOptions): Promise<number>;
  /** Delivers to every agent held here that has pending actions; returns how many actions went out. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export interface DeliverOptions {
  resendSent?: boolean;
  except?: ReadonlySet<string>;
}

export interface ActionRouterOptions {
  sql: PgSql;
  sessions: AgentSessions;
  logger: Logger;
  now: () => number;
  /** How often pending actions of held agents are looked for. Default: 3 s. */
  sweepEveryMs?: number;
  /** Called for each action marked sent (after the commit), e.g. to publish the "action" event. */
  onSent?: (action: ActionRecord) => void;
}

export async function startActionRouter(options: ActionRouterOptions): Promise<ActionRouter> {
  const { sql, sessions, logger, now } = options;
  const log = logger.child({ replicaId: sessions.replicaId });
  const sweepEveryMs = options.sweepEveryMs ?? 3_000;
  /** One delivery at a time per agent; a request during one runs once more after it. */
  const running = new Map<string, Promise<number>>();
  let stopped = false;

  async function deliverNow(agentId: string, opts: DeliverOptions): Promise<number> {
    const claim = sessions.get(agentId);
    if (!claim || stopped) return 0;
    const states = opts.resendSent ? ["pending", "sent"] : ["pending"];
    const marked: ActionRecord[] = [];
    let written = 0;
    try {
      await claim.fenced(async (tx) => {
        const rows = await tx<ActionRow[]>`SELECT * FROM actions WHERE agent_id = ${agentId} AND state = ANY(${tx.array(states)}::text[])
          ORDER BY seq FOR UPDATE SKIP LOCKED`;
        const ops = inTransaction(tx);
        for (const action of rows.map(actionRecord)) {
          if (opts.except?.has(action.actionId)) continue;
          if (!claim.handlers.send(action)) break;
          written += 1;
          if (action.state !== "pending") continue;
          await ops.markActionSent(action.actionId, new Date(now()));
          marked.push(action);
        }
      });
    } catch (err) {
      // Fenced: the claim's stream is told to end; the next holder delivers. Otherwise: pending still, the sweep retries.
      if (!isSecarcError(err, "fenced")) log.warn({ agentId, err: describeError(err) }, "delivering actions failed; retried by the next sweep");
      return 0;
    }
    for (const action of marked) {
      log.info({ agentId, actionId: action.actionId, alertId: action.alertId, answer: action.answer }, "action sent");
      options.onSent?.(action);
    }
    return written;
  }

  function deliver(agentId: string, opts: DeliverOptions = {}): Promise<number> {
    const before = running.get(agentId) ?? Promise.resolve(0);
    const next = before.catch(() => 0).then(() => deliverNow(agentId, opts));
    running.set(agentId, next);
    void next.finally(() => {
      if (running.get(agentId) === next) running.delete(agentId);
    });
    return next;
  }

  /** Streams opened this turn, waiting for the one lookup of which of their agents have unfinished actions. */
  let opened = new Map<string, Array<{ options: DeliverOptions; resolve: (n: number) => void; reject: (err: unknown) => void }>>();
  const lookUpOpened = async (): Promise<void> => {
    const batch = opened;
    opened = new Map();
    try {
      // An action stored after this read NOTIFYs the agent's holder (this replica, its claim is made) and goes out then.
      const rows = await sql<Array<{ agent_id: string }>>`
        SELECT DISTINCT agent_id FROM actions WHERE agent_id = ANY(${sql.array([...batch.keys()])}::text[]) AND state IN ('pending', 'sent')`;
      const withActions = new Set(rows.map((r) => r.agent_id));
      for (const [agentId, waiting] of batch) {
        for (const w of waiting) {
          if (withActions.has(agentId)) deliver(agentId, w.options).then(w.resolve, w.reject);
          else w.resolve(0);
        }
      }
    } catch (err) {
      for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
    }
  };

  function deliverOnOpen(agentId: string, opts: DeliverOptions): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (opened.size === 0) setImmediate(() => void lookUpOpened());
      const waiting = opened.get(agentId) ?? [];
      waiting.push({ options: opts, resolve, reject });
      opened.set(agentId, waiting);
    });
  }

  async function sweep(): Promise<number> {
    if (sessions.held().length === 0) return 0;
    const rows = await sql<Array<{ agent_id: string }>>`
      SELECT DISTINCT a.agent_id FROM actions a JOIN agent_sessions s ON s.agent_id = a.agent_id
      WHERE a.state = 'pending' AND s.replica_id = ${sessions.replicaId} AND s.released_at IS NULL`;
    const counts = await Promise.all(rows.map((r) => deliver(r.agent_id)));
    return counts.reduce((a, b) => a + b, 0);
  }
  const sweepLogged = () => {
    void sweep().catch((err: unknown) => log.warn({ err: describeError(err) }, "action sweep failed; retried"));
  };

  const listening = await sql.listen(
    CHANNELS.actions,
    (agentId) => {
      if (sessions.get(agentId)) void deliver(agentId);
    },
    // Every (re-)LISTEN: whatever was stored while no one listened goes out now.
    sweepLogged,
  );
  const timer = setInterval(sweepLogged, sweepEveryMs);
  timer.unref();

  return {
    deliver,
    deliverOnOpen,
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await listening.unlisten().catch(() => undefined);
      await Promise.allSettled([...running.values()]);
    },
  };
}
