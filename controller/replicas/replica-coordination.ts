import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { EventBus } from "../domain/events.js";
import { migrateReplicaTables } from "../store/postgres-replica-schema.js";
import { inTransaction, pgTransactionOf, type PostgresStore } from "../store/postgres-store.js";
import type { PgStoreOperations } from "../store/postgres-types.js";
import { PREFETCH_STAGE, type ActionRecord, type BatchPrefetch } from "../store/store.js";
import { startActionRouter, type ActionRouter } from "./action-router.js";
import { checkSessionFences, startAgentSessions, type AgentClaim, type AgentSessions, type SessionHandlers } from "./agent-sessions.js";
import { startEventRelay, type EventRelay } from "./event-relay.js";
import { createLease, type Lease } from "./lease.js";
import { newReplicaId } from "./replica-id.js";
import { startReplicaHeartbeat, type ReplicaHeartbeat } from "./replica-heartbeat.js";
import { startReplicaHousekeeping } from "./replica-housekeeping.js";
import { startLastSeenWriter, type LastSeenWriter } from "./last-seen-writer.js";
import { createTelegramUpdateLog, type TelegramUpdateLog } from "./telegram-updates.js";
import { consumeInbox } from "./webhook-inbox.js";

/**
 * Everything a controller replica on PostgreSQL needs to share the fleet
 * with the others, started in one place (controller.ts calls this when
 * `store.postgres` is configured) and stopped in reverse. The link and the
 * Telegram bridge call the hooks below; nothing else changes for them.
 */
export interface ReplicaCoordinationOptions {
  store: PostgresStore;
  logger: Logger;
  now: () => number;
  /** This process among the replicas. Default: host-pid-random (replica-id.ts). */
  replicaId?: string;
  /** How often this replica heartbeats and checks its sessions. Default: 2 s. */
  heartbeatEveryMs?: number;
  /** A replica silent this long is taken over. Default: 15 s. */
  deadAfterMs?: number;
  /** How long the Telegram lease holds without renewal. Default: 15 s (renewed every third of it). */
  telegramLeaseTtlMs?: number;
  /** How often pending actions of held agents are looked for. Default: 3 s. */
  actionSweepEveryMs?: number;
  /** The controller's event bus: its view events are relayed to and from the other replicas (event-relay.ts). */
  events?: EventBus;
  /** An action was written to its agent's stream here and marked sent (publish the "action" event). */
  onActionSent?: (action: ActionRecord) => void;
  /** A survivor reaped dead replicas; `agentIds` are offline now (publish their "agent" events). */
  onFailover?: (replicaIds: string[], agentIds: string[]) => void;
}

/** What the agent stream handler calls (controller/link/agent-stream.ts). */
export interface ReplicaLinkHooks {
  /** After the Hello's checks, before anything is written for the agent: this stream becomes its one live session. */
  claim(agentId: string, sessionId: string, handlers: SessionHandlers): Promise<AgentClaim>;
  /**
   * Wraps a write for the group commit (WriteBatcher.run): in the batch's
   * transaction it first checks `claim`'s epoch and rejects with "fenced"
   * when another stream holds the agent, so nothing of a stale stream
   * commits and nothing is acked for it.
   */
  fence<T, Ops extends object = PgStoreOperations>(claim: AgentClaim, write: (tx: Ops) => Promise<T>): (tx: Ops) => Promise<T>;
  /** The same check for every claim of a group commit in one statement before its writes run; `fence` then costs nothing for the claims that hold. */
  readonly fencePrefetch: BatchPrefetch<AgentClaim>;
  /** Right after the Welcome: sends the agent's unfinished actions except those it has results for. */
  welcomed(claim: AgentClaim, finishedActionIds: readonly string[]): Promise<number>;
  /** The agent sent a message at `at` (ms): its last-seen time, written with the others' within a second, behind the fence (last-seen-writer.ts). */
  seen(claim: AgentClaim, at: number): void;
  /** The agent's clock skew measured from its heartbeats, written the same way. */
  skew(claim: AgentClaim, skewMs: number): void;
}

/** What the Telegram bridge and bot runner call. */
export interface TelegramVoice {
  readonly lease: Lease;
  readonly updates: TelegramUpdateLog;
  /** The lease epoch while this replica polls getUpdates and sends; undefined while another one does. */
  speaking(): number | undefined;
  /**
   * Runs the handler of update `updateId` at most once across replicas and
   * lease changes: the update is marked handled in the same transaction as
   * what `fn` writes through `tx`. Returns false when it was handled already.
   */
  handleOnce(updateId: number, fn: (tx: PgStoreOperations) => Promise<void>): Promise<boolean>;
  /**
   * Runs `handle` for update `updateId` unless a replica has handled it: the
   * update's mark is written in a transaction held open while `handle` runs
   * (its writes go through the store as usual), so a second replica given the
   * same update waits for the first and skips it once it commits. A handler
   * that throws, or a replica that dies meanwhile, leaves it unmarked for the
   * next one: at least once, and the effects are idempotent (an alert takes
   * one answer). Returns false when it was handled already.
   */
  handleUpdate(updateId: number, handle: () => Promise<void>): Promise<boolean>;
  /** Calls `listener` with the epoch each time this replica becomes the voice, and with undefined when it stops; returns the unsubscribe. */
  follow(listener: (epoch: number | undefined) => void): () => void;
  /**
   * Webhook mode: handles, one at a time in update_id order, the updates the
   * replicas' webhooks stored (webhook-inbox.ts). The voice's bridge calls
   * it while it speaks; returns the stop.
   */
  consumeInbox(handle: (update: { update_id: number }) => Promise<void>): Promise<{ stop(): Promise<void> }>;
  /** Calls `listener` after every re-LISTEN of the event relay, when events may have been missed (the bridge re-reads what is stale). */
  followResync(listener: () => void): () => void;
}

export interface ReplicaCoordination {
  readonly replicaId: string;
  readonly link: ReplicaLinkHooks;
  readonly telegram: TelegramVoice;
  readonly sessions: AgentSessions;
  readonly actions: ActionRouter;
  readonly heartbeat: ReplicaHeartbeat;
  stop(): Promise<void>;
}

export async function startReplicaCoordination(options: ReplicaCoordinationOptions): Promise<ReplicaCoordination> {
  const { store, logger, now } = options;
  const replicaId = options.replicaId ?? newReplicaId();
  const log = logger.child({ replicaId });
  await migrateReplicaTables(store.sql, store.where);
  const sessions = await startAgentSessions({ sql: store.sql, logger, replicaId });
  const actions = await startActionRouter({
    sql: store.sql,
    sessions,
    logger,
    now,
    ...(options.actionSweepEveryMs ? { sweepEveryMs: options.actionSweepEveryMs } : {}),
    ...(options.onActionSent ? { onSent: options.onActionSent } : {}),
  });
  const heartbeat = await startReplicaHeartbeat({
    sql: store.sql,
    logger,
    replicaId,
    ...(options.heartbeatEveryMs ? { everyMs: options.heartbeatEveryMs } : {}),
    ...(options.deadAfterMs ? { deadAfterMs: options.deadAfterMs } : {}),
    ...(options.onFailover ? { onFailover: options.onFailover } : {}),
    onReaped: () => sessions.loseAll("this replica was silent too long and the others took its agents over"),
  });
  // A NOTIFY can be missed without a word: compare the claims with the table at every beat too.
  const verifier = setInterval(() => void sessions.verify().catch((err: unknown) => log.warn({ err: describeError(err) }, "session check failed; retried")), options.heartbeatEveryMs ?? 2_000);
  verifier.unref();
  const voiceListeners = createListeners<number | undefined>(log, "a Telegram voice listener failed");
  const resyncListeners = createListeners<void>(log, "a resync listener failed");
  const lease = createLease({
    sql: store.sql,
    logger,
    name: "telegram",
    holder: replicaId,
    ...(options.telegramLeaseTtlMs ? { ttlMs: options.telegramLeaseTtlMs } : {}),
    onAcquired: (epoch) => voiceListeners.call(epoch),
    onLost: () => voiceListeners.call(undefined),
  });
  const updates = createTelegramUpdateLog(replicaId);
  const lastSeen = startLastSeenWriter({ sql: store.sql, logger: log });
  // Rows of replicas long stopped and Telegram update_ids older than a day go (every hour).
  const housekeeping = startReplicaHousekeeping({ sql: store.sql, logger: log, updates });
  const relay: EventRelay | undefined = options.events
    ? await startEventRelay({ sql: store.sql, events: options.events, logger, replicaId, onResync: () => resyncListeners.call(undefined) })
    : undefined;
  log.info("replica coordination started (sessions, actions, heartbeat, Telegram lease)");

  return {
    replicaId,
    sessions,
    actions,
    heartbeat,
    link: linkHooks(sessions, actions, lastSeen),
    telegram: telegramVoice(store, log, lease, updates, voiceListeners.add, resyncListeners.add),
    async stop() {
      clearInterval(verifier);
      await relay?.stop();
      await lease.stop();
      await housekeeping.stop();
      await lastSeen.stop();
      await actions.stop();
      await heartbeat.stop();
      await sessions.stop();
    },
  };
}

function linkHooks(sessions: AgentSessions, actions: ActionRouter, lastSeen: LastSeenWriter): ReplicaLinkHooks {
  // One check per claim and transaction: its share lock holds the epoch still until the commit.
  const checked = new WeakMap<object, Set<AgentClaim>>();
  const checkedIn = (tx: object): Set<AgentClaim> => {
    let claims = checked.get(tx);
    if (!claims) checked.set(tx, (claims = new Set()));
    return claims;
  };
  return {
    claim: (agentId, sessionId, handlers) => sessions.claim(agentId, sessionId, handlers),
    fence: <T, Ops extends object>(claim: AgentClaim, write: (tx: Ops) => Promise<T>) => async (ops: Ops): Promise<T> => {
      const tx = pgTransactionOf(ops);
      if (!tx) throw new SecarcError("internal", "a fenced write must run in a PostgreSQL store transaction (WriteBatcher on the PostgreSQL store)");
      const inThisTransaction = checkedIn(tx);
      if (!inThisTransaction.has(claim)) {
        await claim.check(tx);
        inThisTransaction.add(claim);
      }
      return write(ops);
    },
    fencePrefetch: {
      stage: PREFETCH_STAGE.fence,
      async prepare(ops, claims) {
        const tx = pgTransactionOf(ops);
        if (!tx) return undefined;
        const inThisTransaction = checkedIn(tx);
        const unchecked = [...new Set(claims)].filter((claim) => !inThisTransaction.has(claim));
        if (unchecked.length === 0) return undefined;
        const live = await checkSessionFences(tx, unchecked);
        // A stale claim's write checks again itself when it runs, and fails there (and its stream is told).
        const stale = new Set<AgentClaim>();
        for (const claim of unchecked) {
          if (live.has(claim)) inThisTransaction.add(claim);
          else stale.add(claim);
        }
        return stale;
      },
    },
    welcomed: (claim, finishedActionIds) => actions.deliverOnOpen(claim.agentId, { resendSent: true, except: new Set(finishedActionIds) }),
    seen: (claim, at) => lastSeen.note(claim, at),
    skew: (claim, skewMs) => lastSeen.noteSkew(claim, skewMs),
  };
}

/** Above telegraf's 30 s handler timeout: no live handler outlasts it. */
const UPDATE_HOLD_MS = 45_000;

function telegramVoice(store: PostgresStore, logger: Logger, lease: Lease, updates: TelegramUpdateLog, follow: TelegramVoice["follow"], followResync: TelegramVoice["followResync"]): TelegramVoice {
  return {
    lease,
    updates,
    follow,
    followResync,
    speaking: () => lease.held(),
    consumeInbox: (handle) => consumeInbox({ sql: store.sql, logger, handle }),
    async handleUpdate(updateId, handle) {
      let handled = false;
      await store.sql.begin(async (tx) => {
        // A replica frozen while it handles the update holds its mark back for at most this long: the server then ends the transaction.
        await tx`SELECT set_config('idle_in_transaction_session_timeout', ${String(UPDATE_HOLD_MS)}, true)`;
        if (!(await updates.claim(tx, updateId))) return;
        handled = true;
        await handle();
      });
      return handled;
    },
    async handleOnce(updateId, fn) {
      return (await store.sql.begin(async (tx) => {
        if (!(await updates.claim(tx, updateId))) return false;
        await fn(inTransaction(tx));
        return true;
      })) as boolean;
    },
  };
}

/** Listeners of one kind of news; one that throws is logged and the others still hear it. */
function createListeners<T>(log: Logger, failed: string) {
  const listeners = new Set<(value: T) => void>();
  return {
    add(listener: (value: T) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    call(value: T): void {
      for (const listener of [...listeners]) {
        try {
          listener(value);
        } catch (err) {
          log.error({ err: describeError(err) }, failed);
        }
      }
    },
  };
}
