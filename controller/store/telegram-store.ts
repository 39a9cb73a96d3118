/**
 * The Telegram bridge's bookkeeping, behind the Store (`store.telegram`):
 * which message shows which alert in which chat and what it last showed, the
 * durable send queue, the actions the bridge asked for (/blocks, /allows),
 * the list messages' taps followed to their results, and the summary
 * messages of blocks on all servers. Records are plain data; every write is
 * durable when its promise resolves; several writes that must be durable
 * together run in `transaction`.
 */
export interface TelegramStore extends TelegramOperations {
  /**
   * Runs `fn` in one transaction: what it writes through `tx` becomes durable
   * together when the returned promise resolves, or not at all when `fn`
   * rejects. As the Store's `transaction`: a `tx` method that fails undoes
   * only its own writes; `fn` does its work through `tx` and nothing slow
   * besides (the store's other callers wait for it).
   */
  transaction<T>(fn: (tx: TelegramOperations) => Promise<T>): Promise<T>;
}

/** Job priorities: lower goes first. */
export const Priority = {
  /** Replies to an operator (commands, taps, "show"). */
  interactive: 0,
  /** Edits of messages already shown. */
  update: 1,
  /** First messages of new alerts (these may be grouped into digests). */
  fresh: 2,
} as const;

/** Phases that may still change without a new alert revision (an answer in flight, an expiry to come). */
export const LIVE_PHASES: readonly string[] = ["open", "answered:sent", "answered:queued"];

/** How long a tapped list message is followed: older lines are forgotten (their message is long scrolled away). */
export const LIST_LINE_KEEP_MS = 30 * 24 * 3_600_000;

export interface TelegramOperations {
  // --- messages: one row per alert and chat ---
  getMessage(alertId: string, chatId: number): Promise<MessageRow | undefined>;
  findByMessage(chatId: number, messageId: number): Promise<MessageRow | undefined>;
  /** Chats that show (or showed) an alert, configured or not. */
  chatsShowing(alertId: string): Promise<number[]>;
  /**
   * Records what was shown: message id, version, phase, content hash (a
   * digest message id and the first severity, once set, are kept; the
   * sent-again mark is kept unless given).
   */
  saveRendered(row: RenderedRow): Promise<void>;
  /** Forgets the content hash so that the next render edits the message even if unchanged. */
  invalidate(alertId: string, chatId: number): Promise<void>;
  /** Rows whose alert may need another render: in a live phase (LIVE_PHASES), or rendered since `sinceMs`. */
  listRecentRows(sinceMs: number): Promise<MessageRow[]>;
  /** Open rows with a message, rendered before `beforeMs` (candidates for expiry). */
  listOpenRenderedBefore(beforeMs: number): Promise<MessageRow[]>;

  // --- the send queue ---
  /** Queues (or re-queues: seq + 1) rendering an alert in a chat; keeps the higher priority (the lower number). */
  enqueueAlert(chatId: number, alertId: string, priority: number, now: number): Promise<void>;
  enqueueText(chatId: number, payload: OutgoingText, priority: number, now: number): Promise<void>;
  /** The most urgent due job of each chat, most urgent first. */
  listDue(now: number, limit: number): Promise<QueueJob[]>;
  /** Fresh alert jobs of a chat whose alert has no message (nor digest) yet, oldest first. */
  listFresh(chatId: number, now: number, limit: number): Promise<QueueJob[]>;
  /** The earliest not_before among waiting jobs, if any. */
  nextNotBefore(): Promise<number | undefined>;
  /** Removes a finished job, unless it was re-queued since it was read (seq changed). Returns whether it was removed. */
  complete(job: Pick<QueueJob, "id" | "seq">): Promise<boolean>;
  /**
   * Claims a job's send before the call: sets its in-flight mark to `at` only
   * if the mark is still the one the job was read with (`job.sendingSince`).
   * Of two controllers that read the same job, one wins; the other gets
   * `false` and leaves the job alone. A crash leaves the mark.
   */
  claimSend(job: Pick<QueueJob, "id" | "sendingSince">, at: number): Promise<boolean>;
  /** Sets (or, with undefined, clears) a job's in-flight mark. */
  markSending(jobId: number, at: number | undefined): Promise<void>;
  /**
   * Postpones a job after a retryable failure (attempts + 1). Its in-flight
   * mark is cleared — Telegram refused or never got the call — unless
   * `keepInFlightMark`: the call may have been carried out (no answer within
   * the deadline, a reset, a 5xx), so its retry must say it may be a repeat.
   */
  postpone(jobId: number, notBefore: number, options?: { keepInFlightMark?: boolean }): Promise<void>;
  /** Drops a job that can never succeed. */
  drop(jobId: number): Promise<void>;
  depth(): Promise<number>;

  // --- actions the bridge asked for ---
  /** Records an action (a second record of the same id is ignored). */
  trackAction(action: TrackedAction): Promise<void>;
  /** Every tracked action, oldest first. */
  listTrackedBlocks(): Promise<TrackedAction[]>;

  // --- taps in list messages (/blocks, /allows) ---
  /** Records a tap's line (a second record of the same action is ignored); forgets lines older than LIST_LINE_KEEP_MS. */
  addListLine(line: ListLine): Promise<void>;
  /** The line of an action, if a list tap started it. */
  listLineOf(actionId: string): Promise<ListLine | undefined>;
  /** The lines of a list message, first tap first. */
  listLinesOfMessage(chatId: number, messageId: number): Promise<ListLine[]>;

  // --- summary messages of blocks on all servers ---
  /** Records that a chat follows a fleet block (nothing happens when it already does). */
  followFleet(row: Pick<FleetMessageRow, "fleetId" | "chatId" | "alertId">): Promise<void>;
  getFleetMessage(fleetId: string, chatId: number): Promise<FleetMessageRow | undefined>;
  /** Chats that follow a fleet block, by id. */
  fleetChats(fleetId: string): Promise<number[]>;
  /** Whether a block on all servers answered this alert. */
  fleetAnswersAlert(alertId: string): Promise<boolean>;
  /** Records what a fleet block's summary message in a chat shows. */
  saveFleetSent(fleetId: string, chatId: number, messageId: number | undefined, renderedHash: string | undefined): Promise<void>;
}

export interface MessageRow {
  alertId: string;
  chatId: number;
  messageId: number | undefined;
  digestMessageId: number | undefined;
  renderedVersion: number;
  renderedPhase: string;
  renderedHash: string | undefined;
  firstSeverity: number | undefined;
  renderedAt: number;
  /** The message was sent again after a send whose outcome is unknown: it says that a copy may be just above. */
  sentAgain: boolean;
}

/** What saveRendered records: a message row, where the digest id and the sent-again mark may be left out (kept as they are). */
export type RenderedRow = Omit<MessageRow, "digestMessageId" | "sentAgain"> & { digestMessageId?: number | undefined; sentAgain?: boolean | undefined };

/** A queued job: render an alert in a chat (alertId set), or send a prepared text (payload set). */
export interface QueueJob {
  id: number;
  chatId: number;
  alertId: string | undefined;
  payload: OutgoingText | undefined;
  priority: number;
  seq: number;
  enqueuedAt: number;
  notBefore: number;
  attempts: number;
  /** Set while the job's send is in flight (from before the call to its recorded answer); still set at a start after a crash. */
  sendingSince: number | undefined;
}

/** A prepared message (command replies, digests). */
export interface OutgoingText {
  text: string;
  keyboard?: Array<Array<{ text: string; callback_data: string }>>;
  /** Set: no new message; this list message (/blocks, /allows) is edited to show its taps' results, rendered when sent. */
  listMessageId?: number;
  /** The forum topic to send it to (message_thread_id): the one a command came from. Default: the main thread. */
  threadId?: number;
}

export interface TrackedAction {
  actionId: string;
  agentId: string;
  answer: number;
  ip: string | undefined;
  createdAt: number;
}

/**
 * A tap on Unblock (/blocks) or Revoke (/allows): the list message it came
 * from, what that message showed at its first tap (text and buttons), the
 * tapped button, and the action it started; so that the result, even one
 * that comes after a restart, edits that message.
 */
export interface ListLine {
  actionId: string;
  chatId: number;
  messageId: number;
  /** The tapped button's callback data (its button goes from the message). */
  tapped: string;
  /** The list message's text as HTML, as it was before any tap on it. */
  baseHtml: string;
  /** The list message's buttons before the tap. */
  keyboard: Array<Array<{ text: string; callback_data: string }>>;
  createdAt: number;
}

/** The summary message of a block on all servers in one chat: which message shows it and what it last showed. */
export interface FleetMessageRow {
  fleetId: string;
  chatId: number;
  /** The alert whose "Block on all servers" made it. */
  alertId: string | undefined;
  /** Undefined until it is sent. */
  messageId: number | undefined;
  /** The hash of the text it shows: an unchanged one needs no edit. */
  renderedHash: string | undefined;
}
