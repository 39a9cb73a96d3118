import type { Database } from "better-sqlite3";
import { migrate, type Migration } from "../store/migrate.js";
import { createListLineStore, LIST_LINES_SQL, type ListLineStore } from "./list-lines.js";

/**
 * The bridge's own tables, in the controller's SQLite file (component
 * "telegram"): which message shows which alert in which chat and which alert
 * version it last showed, the durable send queue, and an index of the actions
 * the bridge asked for (for /blocks).
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE telegram_messages (
        alert_id TEXT NOT NULL,
        chat_id INTEGER NOT NULL,
        message_id INTEGER,
        digest_message_id INTEGER,
        rendered_version INTEGER NOT NULL DEFAULT 0,
        rendered_phase TEXT NOT NULL DEFAULT '',
        rendered_hash TEXT,
        first_severity INTEGER,
        rendered_at INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (alert_id, chat_id)
      );
      CREATE INDEX telegram_messages_phase ON telegram_messages (rendered_phase, rendered_at);
      CREATE TABLE telegram_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id INTEGER NOT NULL,
        alert_id TEXT,
        payload TEXT,
        priority INTEGER NOT NULL,
        seq INTEGER NOT NULL DEFAULT 0,
        enqueued_at INTEGER NOT NULL,
        not_before INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        UNIQUE (chat_id, alert_id)
      );
      CREATE INDEX telegram_queue_chat ON telegram_queue (chat_id, priority, id);
      CREATE TABLE telegram_actions (
        action_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        answer INTEGER NOT NULL,
        ip TEXT,
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    // A send recorded as in flight before the call, so a start after kill -9 knows it may have reached Telegram.
    version: 2,
    sql: "ALTER TABLE telegram_queue ADD COLUMN sending_since INTEGER;",
  },
  // Unblock/Revoke taps in /blocks and /allows, so that their results edit the list message (list-lines.ts).
  { version: 3, sql: LIST_LINES_SQL },
];

/** Job priorities: lower goes first. */
export const Priority = {
  /** Replies to an operator (commands, taps, "show"). */
  interactive: 0,
  /** Edits of messages already shown. */
  update: 1,
  /** First messages of new alerts (these may be grouped into digests). */
  fresh: 2,
} as const;

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
}

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

export interface MessageStore {
  getMessage(alertId: string, chatId: number): MessageRow | undefined;
  findByMessage(chatId: number, messageId: number): MessageRow | undefined;
  /** Chats that show (or showed) an alert, configured or not. */
  chatsShowing(alertId: string): number[];
  /** Records what was shown: message id, version, phase, content hash. */
  saveRendered(row: Omit<MessageRow, "digestMessageId"> & { digestMessageId?: number | undefined }): void;
  /** Forgets the content hash so that the next render edits the message even if unchanged. */
  invalidate(alertId: string, chatId: number): void;
  /** Rows whose alert may need another render: in a live phase, or rendered since `sinceMs`. */
  listRecentRows(sinceMs: number): MessageRow[];
  /** Open rows rendered before `beforeMs` (candidates for expiry). */
  listOpenRenderedBefore(beforeMs: number): MessageRow[];

  /** Queues (or re-queues) rendering an alert in a chat; keeps the higher priority. Returns true if new. */
  enqueueAlert(chatId: number, alertId: string, priority: number, now: number): void;
  enqueueText(chatId: number, payload: OutgoingText, priority: number, now: number): void;
  /** The most urgent due job of each chat, most urgent first. */
  listDue(now: number, limit: number): QueueJob[];
  /** Fresh alert jobs of a chat whose alert has no message yet, oldest first. */
  listFresh(chatId: number, now: number, limit: number): QueueJob[];
  /** The earliest not_before among waiting jobs, if any. */
  nextNotBefore(): number | undefined;
  /** Removes a finished job, unless it was re-queued since it was read (seq changed). Returns whether it was removed. */
  complete(job: Pick<QueueJob, "id" | "seq">): boolean;
  /** Records that the job's send is about to be made (before the call: a crash leaves the mark). */
  markSending(jobId: number, at: number | undefined): void;
  /** Postpones a job after a retryable failure (its send is no longer in flight). */
  postpone(jobId: number, notBefore: number): void;
  /** Drops a job that can never succeed. */
  drop(jobId: number): void;
  depth(): number;

  trackAction(action: TrackedAction): void;
  listTrackedBlocks(): TrackedAction[];
  /** Unblock/Revoke taps in list messages, followed to their results. */
  lists: ListLineStore;

  /** Runs `fn` in one SQLite transaction. */
  transaction<T>(fn: () => T): T;
}

interface RawRow {
  alert_id: string;
  chat_id: number;
  message_id: number | null;
  digest_message_id: number | null;
  rendered_version: number;
  rendered_phase: string;
  rendered_hash: string | null;
  first_severity: number | null;
  rendered_at: number;
}

interface RawJob {
  id: number;
  chat_id: number;
  alert_id: string | null;
  payload: string | null;
  priority: number;
  seq: number;
  enqueued_at: number;
  not_before: number;
  attempts: number;
  sending_since: number | null;
}

/** Phases that may still change without a new alert revision (an answer in flight, an expiry to come). */
const LIVE_PHASES = ["open", "answered:sent", "answered:queued"];

export function createMessageStore(db: Database): MessageStore {
  migrate(db, "telegram", MIGRATIONS);
  const stmt = {
    get: db.prepare("SELECT * FROM telegram_messages WHERE alert_id = ? AND chat_id = ?"),
    byMessage: db.prepare("SELECT * FROM telegram_messages WHERE chat_id = ? AND message_id = ?"),
    chatsShowing: db.prepare("SELECT chat_id FROM telegram_messages WHERE alert_id = ? AND message_id IS NOT NULL"),
    save: db.prepare(`INSERT INTO telegram_messages (alert_id, chat_id, message_id, digest_message_id, rendered_version, rendered_phase, rendered_hash, first_severity, rendered_at)
      VALUES (@alertId, @chatId, @messageId, @digestMessageId, @renderedVersion, @renderedPhase, @renderedHash, @firstSeverity, @renderedAt)
      ON CONFLICT (alert_id, chat_id) DO UPDATE SET message_id = excluded.message_id, digest_message_id = coalesce(excluded.digest_message_id, digest_message_id),
        rendered_version = excluded.rendered_version, rendered_phase = excluded.rendered_phase, rendered_hash = excluded.rendered_hash,
        first_severity = coalesce(first_severity, excluded.first_severity), rendered_at = excluded.rendered_at`),
    invalidate: db.prepare("UPDATE telegram_messages SET rendered_hash = NULL WHERE alert_id = ? AND chat_id = ?"),
    recent: db.prepare(`SELECT * FROM telegram_messages WHERE rendered_phase IN (${LIVE_PHASES.map(() => "?").join(",")}) OR rendered_at >= ?`),
    openBefore: db.prepare("SELECT * FROM telegram_messages WHERE rendered_phase = 'open' AND rendered_at < ? AND message_id IS NOT NULL"),
    enqueueAlert: db.prepare(`INSERT INTO telegram_queue (chat_id, alert_id, priority, enqueued_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (chat_id, alert_id) DO UPDATE SET priority = min(priority, excluded.priority), seq = seq + 1`),
    enqueueText: db.prepare("INSERT INTO telegram_queue (chat_id, payload, priority, enqueued_at) VALUES (?, ?, ?, ?)"),
    // The most urgent due job of each chat, so that one busy chat never hides another.
    due: db.prepare(`SELECT q.* FROM telegram_queue q WHERE q.id = (SELECT q2.id FROM telegram_queue q2 WHERE q2.chat_id = q.chat_id AND q2.not_before <= @now ORDER BY q2.priority, q2.id LIMIT 1)
      ORDER BY q.priority, q.id LIMIT @limit`),
    fresh: db.prepare(`SELECT q.* FROM telegram_queue q LEFT JOIN telegram_messages m ON m.alert_id = q.alert_id AND m.chat_id = q.chat_id
      WHERE q.chat_id = ? AND q.alert_id IS NOT NULL AND q.priority = ${Priority.fresh} AND q.not_before <= ?
        AND (m.alert_id IS NULL OR (m.message_id IS NULL AND m.digest_message_id IS NULL)) ORDER BY q.id LIMIT ?`),
    nextNotBefore: db.prepare("SELECT min(not_before) AS t FROM telegram_queue"),
    complete: db.prepare("DELETE FROM telegram_queue WHERE id = ? AND seq = ?"),
    postpone: db.prepare("UPDATE telegram_queue SET not_before = ?, attempts = attempts + 1, sending_since = NULL WHERE id = ?"),
    markSending: db.prepare("UPDATE telegram_queue SET sending_since = ? WHERE id = ?"),
    drop: db.prepare("DELETE FROM telegram_queue WHERE id = ?"),
    depth: db.prepare("SELECT count(*) AS n FROM telegram_queue"),
    track: db.prepare("INSERT OR IGNORE INTO telegram_actions (action_id, agent_id, answer, ip, created_at) VALUES (@actionId, @agentId, @answer, @ip, @createdAt)"),
    blocks: db.prepare("SELECT * FROM telegram_actions ORDER BY created_at"),
  };
  return {
    getMessage: (alertId, chatId) => toRow(stmt.get.get(alertId, chatId) as RawRow | undefined),
    findByMessage: (chatId, messageId) => toRow(stmt.byMessage.get(chatId, messageId) as RawRow | undefined),
    chatsShowing: (alertId) => (stmt.chatsShowing.all(alertId) as Array<{ chat_id: number }>).map((r) => r.chat_id),
    saveRendered(row) {
      stmt.save.run({
        alertId: row.alertId,
        chatId: row.chatId,
        messageId: row.messageId ?? null,
        digestMessageId: row.digestMessageId ?? null,
        renderedVersion: row.renderedVersion,
        renderedPhase: row.renderedPhase,
        renderedHash: row.renderedHash ?? null,
        firstSeverity: row.firstSeverity ?? null,
        renderedAt: row.renderedAt,
      });
    },
    invalidate: (alertId, chatId) => void stmt.invalidate.run(alertId, chatId),
    listRecentRows: (sinceMs) => (stmt.recent.all(...LIVE_PHASES, sinceMs) as RawRow[]).map((r) => toRow(r)!),
    listOpenRenderedBefore: (beforeMs) => (stmt.openBefore.all(beforeMs) as RawRow[]).map((r) => toRow(r)!),
    enqueueAlert: (chatId, alertId, priority, now) => void stmt.enqueueAlert.run(chatId, alertId, priority, now),
    enqueueText: (chatId, payload, priority, now) => void stmt.enqueueText.run(chatId, JSON.stringify(payload), priority, now),
    listDue: (now, limit) => (stmt.due.all({ now, limit }) as RawJob[]).map(toJob),
    listFresh: (chatId, now, limit) => (stmt.fresh.all(chatId, now, limit) as RawJob[]).map(toJob),
    nextNotBefore() {
      const row = stmt.nextNotBefore.get() as { t: number | null };
      return row.t ?? undefined;
    },
    complete: (job) => stmt.complete.run(job.id, job.seq).changes > 0,
    postpone: (jobId, notBefore) => void stmt.postpone.run(notBefore, jobId),
    markSending: (jobId, at) => void stmt.markSending.run(at ?? null, jobId),
    drop: (jobId) => void stmt.drop.run(jobId),
    depth: () => (stmt.depth.get() as { n: number }).n,
    trackAction: (action) => void stmt.track.run({ ...action, ip: action.ip ?? null }),
    listTrackedBlocks: () =>
      (stmt.blocks.all() as Array<{ action_id: string; agent_id: string; answer: number; ip: string | null; created_at: number }>).map((r) => ({
        actionId: r.action_id,
        agentId: r.agent_id,
        answer: r.answer,
        ip: r.ip ?? undefined,
        createdAt: r.created_at,
      })),
    lists: createListLineStore(db),
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
  };
}

function toRow(raw: RawRow | undefined): MessageRow | undefined {
  if (!raw) return undefined;
  return {
    alertId: raw.alert_id,
    chatId: raw.chat_id,
    messageId: raw.message_id ?? undefined,
    digestMessageId: raw.digest_message_id ?? undefined,
    renderedVersion: raw.rendered_version,
    renderedPhase: raw.rendered_phase,
    renderedHash: raw.rendered_hash ?? undefined,
    firstSeverity: raw.first_severity ?? undefined,
    renderedAt: raw.rendered_at,
  };
}

function toJob(raw: RawJob): QueueJob {
  return {
    id: raw.id,
    chatId: raw.chat_id,
    alertId: raw.alert_id ?? undefined,
    payload: raw.payload ? (JSON.parse(raw.payload) as OutgoingText) : undefined,
    priority: raw.priority,
    seq: raw.seq,
    enqueuedAt: raw.enqueued_at,
    notBefore: raw.not_before,
    attempts: raw.attempts,
    sendingSince: raw.sending_since ?? undefined,
  };
}
