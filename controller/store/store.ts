import type { ActionResult, Answer, ActionOptions, ActionTarget, Operator, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import type { Alert, AlertKind, DetectorSourceKind, DetectorSourceState } from "../../gen/secarc/v1/alert_pb.js";
import type { HostFactsRecord } from "../host/host-facts.js";
import type { FleetBlockStore } from "./fleet-block-store.js";
import type { SilenceStore } from "./silence-store.js";
import type { TelegramStore } from "./telegram-store.js";

/**
 * The controller's storage, behind one narrow interface so that a PostgreSQL
 * implementation can follow the SQLite one. Methods return promises of plain
 * records; proto messages inside records are plain data too.
 *
 * Every write is durable when its promise resolves (the link acks only
 * after). Each method is atomic on its own; a sequence that must be atomic
 * runs in `transaction`.
 */
export interface Store extends StoreOperations {
  /**
   * Runs `fn` in one transaction: everything it writes through `tx` becomes
   * durable together when the returned promise resolves (SQLite: one WAL
   * sync), or not at all when `fn` rejects. A `tx` method that fails undoes
   * only its own writes (a savepoint) and rejects; `fn` decides whether to go
   * on. `fn` must do its store work through `tx` and nothing slow besides:
   * other callers of the store wait for the transaction to end (calling the
   * store itself from inside `fn` would wait for itself: SQLite refuses it
   * only when opened with `checkNesting`).
   * The link commits the alerts that arrive together this way before acking
   * them.
   */
  transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T>;
  /** Closes the store; waits for a transaction in progress. */
  close(): Promise<void>;
  /**
   * Stores the alerts of one group commit with one statement where the
   * backend gains from it (PostgreSQL: a round trip per alert otherwise);
   * each write's upsertAlert then returns what it found. Absent on SQLite,
   * where a statement costs no round trip.
   */
  readonly alertPrefetch?: BatchPrefetch<AlertPrefetchPayload>;
  /** The same for the Hellos of one group commit (agentConnected with its detector sources). Absent on SQLite. */
  readonly helloPrefetch?: BatchPrefetch<HelloPrefetchPayload>;
  /** Silences and maintenance windows' runs (silence-store.ts). */
  readonly silences: SilenceStore;
  /** Blocks on all servers and each agent's part in them (fleet-block-store.ts). */
  readonly fleetBlocks: FleetBlockStore;
  /** The Telegram bridge's bookkeeping: message ids, the send queue, tracked actions, list taps (telegram-store.ts). */
  readonly telegram: TelegramStore;
}

/**
 * Work that the writes of one group commit (controller/link/write-batcher.ts)
 * can do together before each of them runs: `prepare` is called once per
 * batch with the payloads of every write of the batch that carries this
 * prefetch, in the batch's order, inside the batch's transaction, and does
 * their common work in a few statements; each write then finds its part
 * done (the PostgreSQL store's alert insert, the replicas' session fence).
 * Stages run in ascending order. `prepare` returns the payloads whose
 * writes get no later stage (they will fail on their own when they run).
 * A write whose payload was prepared always runs in that batch.
 */
export interface BatchPrefetch<P> {
  readonly stage: number;
  /** True when `prepare` does the whole of a write's statements (the write then costs no round trip): such writes are counted apart when the batch is sized. */
  readonly complete?: boolean;
  prepare(tx: StoreOperations, payloads: P[]): Promise<ReadonlySet<P> | undefined>;
}

/** The stages of the prefetches there are: the replicas' session fence first (a fenced write gets no later stage), then the writes' statements. */
export const PREFETCH_STAGE = { fence: 0, writes: 1 } as const;

/** One write's part in a prefetch. */
export interface Prefetched<P = unknown> {
  readonly prefetch: BatchPrefetch<P>;
  readonly payload: P;
}

/** What a Hello's write prefetches: the arguments of its agentConnected and setDetectorSources (the same objects). */
export interface HelloPrefetchPayload {
  input: Parameters<StoreOperations["agentConnected"]>[0];
  sources: Parameters<StoreOperations["setDetectorSources"]>[1];
}

/** What an alert write prefetches: the arguments of its upsertAlert. */
export interface AlertPrefetchPayload {
  agentId: string;
  alert: Alert;
  at: Date;
  body?: Uint8Array | undefined;
}

/** What a Store does, inside a transaction or on its own. */
export interface StoreOperations {
  // --- agents ---
  /**
   * Records that an agent connected (or reconnected); creates it on first
   * sight. `certSerial` is the serial of the certificate it connected with
   * (lowercase hex); connecting clears the agent's revoked mark.
   */
  agentConnected(input: {
    agentId: string;
    version: string;
    hostname: string;
    addresses: string[];
    actions: Answer[];
    detectors: number[];
    at: Date;
    certSerial?: string;
    /** Answers the agent said it cannot carry out on its host, and why (Hello.unavailable_answers). Default: none. */
    unavailableAnswers?: UnavailableAnswerRecord[];
    /** Its labels (Hello.labels, already checked: common/labels.ts). Default: none. */
    labels?: Readonly<Record<string, string>>;
    /** It takes no part in blocks on all servers (Hello.fleet_block_opt_out). Default: false. */
    fleetBlockOptOut?: boolean;
    /** What its host is (Hello.host_facts); replaces the stored facts, none clears them. Default: none. */
    hostFacts?: HostFactsRecord;
  }): Promise<AgentRecord>;
  /** Records that an agent's stream ended. */
  agentDisconnected(agentId: string, at: Date): Promise<void>;
  /** Refreshes an agent's last-seen time (heartbeats, any message). */
  agentSeen(agentId: string, at: Date): Promise<void>;
  getAgent(agentId: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /**
   * Every agent's presence and detector sources only, sorted by id: what the
   * watches that look at every agent every few seconds need (presence,
   * blind detectors). A third of listAgents' time at 10,000 agents.
   * With `ids`: those agents only (the ones known), in one query.
   */
  listAgentStates(ids?: readonly string[]): Promise<AgentState[]>;
  /**
   * The controller's CRL now revokes `serials` (lowercase hex): agents whose
   * last certificate is among them are marked revoked (keeping the first
   * time), the others unmarked. Returns the ids of agents newly marked.
   */
  setRevokedSerials(serials: readonly string[], at: Date): Promise<string[]>;
  /** Replaces an agent's detector sources (as its last Hello or Heartbeat reported them). */
  setDetectorSources(agentId: string, sources: readonly DetectorSourceRecord[]): Promise<void>;
  /** Records how far the agent's clock is from the controller's (ms, positive: ahead), measured from its heartbeats. */
  setClockSkew(agentId: string, skewMs: number): Promise<void>;

  // --- alerts ---
  /**
   * Stores an alert revision: inserts a new id, replaces a lower revision,
   * ignores an equal or lower one. Returns what happened and the stored record.
   * `body` is the alert's encoding as it arrived (the link has it), stored
   * as it is; without it the alert is encoded here.
   */
  upsertAlert(agentId: string, alert: Alert, at: Date, body?: Uint8Array): Promise<{ outcome: "inserted" | "updated" | "unchanged"; record: AlertRecord }>;
  getAlert(alertId: string): Promise<AlertRecord | undefined>;
  /** Alerts whose state is open, newest first. */
  listOpenAlerts(limit: number): Promise<AlertRecord[]>;
  /** Open alerts of one kind, oldest first (the controller's own alerts, which are few). */
  listOpenAlertsOfKind(kind: AlertKind): Promise<AlertRecord[]>;

  // --- actions ---
  /**
   * Stores a new action in state "pending" (before any attempt to send it).
   * An alert takes one answer: the first action stored for an alert wins,
   * and a later one for the same alert is not stored (`created: false`, with
   * the action that won). Actions without an alert (an unblock from a list)
   * are always stored.
   */
  createAction(input: NewAction): Promise<CreatedAction>;
  getAction(actionId: string): Promise<ActionRecord | undefined>;
  /** Actions of an agent that have no result yet, oldest first: to send on (re)connect. */
  listUnfinishedActions(agentId: string): Promise<ActionRecord[]>;
  /** Actions answering an alert, oldest first. */
  listActionsForAlert(alertId: string): Promise<ActionRecord[]>;
  /** Marks an action as handed to a live stream (state pending → sent). */
  markActionSent(actionId: string, at: Date): Promise<void>;
  /**
   * Stores an action's result once: the first result wins, later ones for the
   * same action return `false` and change nothing. Unknown action ids or
   * actions of another agent also return `false`.
   */
  recordResult(agentId: string, result: ActionResult, at: Date): Promise<boolean>;

  // --- audit ---
  audit(entry: { at: Date; actor: string; event: string; detail: string }): Promise<void>;
  listAudit(limit: number): Promise<AuditRecord[]>;
}

/** What listAgentStates reads of an agent. */
export type AgentState = Pick<AgentRecord, "agentId" | "online" | "lastSeen" | "revokedAt" | "detectorSources">;

export interface AgentRecord {
  agentId: string;
  version: string;
  hostname: string;
  addresses: string[];
  /** Answers the agent said it can carry out in its last Hello. */
  actions: Answer[];
  detectors: number[];
  online: boolean;
  firstSeen: Date;
  lastSeen: Date;
  /** Number of times the agent has connected. */
  connects: number;
  /** Serial (lowercase hex) of the certificate of its last connect; undefined before the agent connected with this version. */
  certSerial: string | undefined;
  /** When the controller's CRL was found to revoke that certificate; undefined while it is not revoked. */
  revokedAt: Date | undefined;
  /** Its detectors' sources as last reported; empty when it never reported any. */
  detectorSources: DetectorSourceRecord[];
  /** Answers it does not offer on its host, and why, as its last Hello said; empty when none. */
  unavailableAnswers: UnavailableAnswerRecord[];
  /** The agent's clock minus the controller's, ms, from its last heartbeats; undefined before the first. */
  clockSkewMs: number | undefined;
  /** Labels from its last Hello (keys sorted); empty when none. */
  labels: Record<string, string>;
  /** Whether its last Hello opted it out of blocks on all servers. */
  fleetBlockOptOut: boolean;
  /** What its host is, from its last Hello; undefined when that Hello had no host facts. */
  hostFacts: HostFactsRecord | undefined;
}

/** One detector's source, as an agent reported it (proto DetectorSource). */
export interface DetectorSourceRecord {
  detector: string;
  kind: DetectorSourceKind;
  state: DetectorSourceState;
  /** Text from the agent (untrusted). */
  detail: string;
  /** Since when it has been in this state (agent's clock), ms. */
  since: number;
}

/** An answer an agent does not offer, and why. */
export interface UnavailableAnswerRecord {
  answer: Answer;
  reason: string;
}

export interface AlertRecord {
  alertId: string;
  agentId: string;
  /** The highest stored revision, whole. */
  alert: Alert;
  receivedAt: Date;
  /** When the alert reached its current severity: receivedAt, or the time of the revision that changed it. */
  severitySince: Date;
  updatedAt: Date;
  /** Grows by one with every change to the alert or its actions; views use it to know they are stale. */
  version: number;
}

export type ActionState = "pending" | "sent" | "done" | "failed" | "refused";

export interface NewAction {
  actionId: string;
  agentId: string;
  alertId: string | undefined;
  answer: Answer;
  operator: Operator;
  requestedAt: Date;
  options: ActionOptions | undefined;
  target: ActionTarget | undefined;
  /** Set when the no-answer policy chose the answer (no human did): the rule's waiting time. */
  policy?: PolicyMark | undefined;
}

/** The no-answer policy's mark on an action it chose. */
export interface PolicyMark {
  /** How long the rule waits for a human answer, in ms. */
  afterMs: number;
}

export interface ActionRecord extends NewAction {
  state: ActionState;
  sentAt: Date | undefined;
  resultStatus: ResultStatus | undefined;
  detail: string;
  dryRun: boolean;
  finishedAt: Date | undefined;
  expiresAt: Date | undefined;
  /** The networks a BLOCK_IP covers or an UNBLOCK_IP lifted, as the agent reported them (ActionResult.networks); absent when none. */
  networks?: string[];
}

/** The `networks` of an action record from its stored JSON column (absent when empty or unreadable). */
export function networksOf(text: string | null | undefined): { networks?: string[] } {
  try {
    const list: unknown = JSON.parse(text ?? "[]");
    const networks = Array.isArray(list) ? list.filter((n): n is string => typeof n === "string") : [];
    return networks.length > 0 ? { networks } : {};
  } catch {
    return {};
  }
}

/** What createAction did: stored the action, or found the alert already answered. */
export type CreatedAction = { created: true; action: ActionRecord } | { created: false; existing: ActionRecord };

export interface AuditRecord {
  id: number;
  at: Date;
  actor: string;
  event: string;
  detail: string;
}
