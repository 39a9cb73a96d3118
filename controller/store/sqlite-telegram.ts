import type { Database } from "better-sqlite3";
import { migrate } from "./migrate.js";
import type { SqliteGate } from "./sqlite-gate.js";
import { asyncOperations, type SyncOperations } from "./sqlite-operations.js";
import { renderedColumns, toFleetMessage, toJob, toListLine, toMessageRow, toTracked, type RawFleetMessage, type RawJob, type RawLine, type RawMessage, type RawTracked } from "./telegram-rows.js";
import { sqliteTelegramFleetMigrations, sqliteTelegramMigrations } from "./telegram-schema.js";
import { LIST_LINE_KEEP_MS, LIVE_PHASES, Priority, type TelegramOperations, type TelegramStore } from "./telegram-store.js";

/**
 * The Telegram bookkeeping in the controller's SQLite file (components
 * "telegram" and "telegram_fleet", as earlier versions made them). Every call
 * goes through the store's gate: none is mixed into a transaction of the
 * link's group commit, and `transaction` is one of the gate's.
 */
export function createSqliteTelegramStore(db: Database, gate: SqliteGate): TelegramStore {
  migrate(db, "telegram", sqliteTelegramMigrations);
  migrate(db, "telegram_fleet", sqliteTelegramFleetMigrations);
  const ops = telegramOperations(db);
  return {
    ...asyncOperations<TelegramOperations>(ops, gate.call),
    transaction: <T>(fn: (tx: TelegramOperations) => Promise<T>): Promise<T> =>
      gate.transaction((token) => fn(asyncOperations<TelegramOperations>(ops, (op) => gate.callIn(token, op)))),
  };
}

function statements(db: Database) {
  return {
    get: db.prepare("SELECT * FROM telegram_messages WHERE alert_id = ? AND chat_id = ?"),
    byMessage: db.prepare("SELECT * FROM telegram_messages WHERE chat_id = ? AND message_id = ?"),
    chatsShowing: db.prepare("SELECT chat_id FROM telegram_messages WHERE alert_id = ? AND message_id IS NOT NULL"),
    save: db.prepare(`INSERT INTO telegram_messages (alert_id, chat_id, message_id, digest_message_id, rendered_version, rendered_phase, rendered_hash, first_severity, rendered_at, sent_again)
      VALUES (@alertId, @chatId, @messageId, @digestMessageId, @renderedVersion, @renderedPhase, @renderedHash, @firstSeverity, @renderedAt, @sentAgain)
      ON CONFLICT (alert_id, chat_id) DO UPDATE SET message_id = excluded.message_id, digest_message_id = coalesce(excluded.digest_message_id, digest_message_id),
        rendered_version = excluded.rendered_version, rendered_phase = excluded.rendered_phase, rendered_hash = excluded.rendered_hash,
        first_severity = coalesce(first_severity, excluded.first_severity), rendered_at = excluded.rendered_at,
        sent_again = coalesce(excluded.sent_again, sent_again)`),
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
    postpone: db.prepare("UPDATE telegram_queue SET not_before = @notBefore, attempts = attempts + 1, sending_since = CASE WHEN @keep = 1 THEN sending_since END WHERE id = @id"),
    markSending: db.prepare("UPDATE telegram_queue SET sending_since = ? WHERE id = ?"),
    claim: db.prepare("UPDATE telegram_queue SET sending_since = @at WHERE id = @id AND sending_since IS @seen"),
    drop: db.prepare("DELETE FROM telegram_queue WHERE id = ?"),
    depth: db.prepare("SELECT count(*) AS n FROM telegram_queue"),
    track: db.prepare("INSERT OR IGNORE INTO telegram_actions (action_id, agent_id, answer, ip, created_at) VALUES (@actionId, @agentId, @answer, @ip, @createdAt)"),
    blocks: db.prepare("SELECT * FROM telegram_actions ORDER BY created_at"),
    addLine: db.prepare(`INSERT OR IGNORE INTO telegram_list_lines (action_id, chat_id, message_id, tapped, base_html, keyboard, created_at)
      VALUES (@actionId, @chatId, @messageId, @tapped, @baseHtml, @keyboard, @createdAt)`),
    pruneLines: db.prepare("DELETE FROM telegram_list_lines WHERE created_at < ?"),
    lineOf: db.prepare("SELECT * FROM telegram_list_lines WHERE action_id = ?"),
    linesOf: db.prepare("SELECT * FROM telegram_list_lines WHERE chat_id = ? AND message_id = ? ORDER BY created_at, rowid"),
    followFleet: db.prepare("INSERT OR IGNORE INTO telegram_fleet_messages (fleet_id, chat_id, alert_id) VALUES (?, ?, ?)"),
    getFleet: db.prepare("SELECT * FROM telegram_fleet_messages WHERE fleet_id = ? AND chat_id = ?"),
    fleetChats: db.prepare("SELECT chat_id FROM telegram_fleet_messages WHERE fleet_id = ? ORDER BY chat_id"),
    fleetOfAlert: db.prepare("SELECT 1 FROM telegram_fleet_messages WHERE alert_id = ? LIMIT 1"),
    saveFleet: db.prepare("UPDATE telegram_fleet_messages SET message_id = ?, rendered_hash = ? WHERE fleet_id = ? AND chat_id = ?"),
  };
}

/** Each operation, run synchronously: one statement, or two in a transaction of their own (a savepoint inside one) when a list line prunes the old ones. */
function telegramOperations(db: Database): SyncOperations<TelegramOperations> {
  const stmt = statements(db);
  const row = (raw: unknown) => (raw === undefined ? undefined : toMessageRow(raw as RawMessage));
  return {
    getMessage: (alertId, chatId) => row(stmt.get.get(alertId, chatId)),
    findByMessage: (chatId, messageId) => row(stmt.byMessage.get(chatId, messageId)),
    chatsShowing: (alertId) => (stmt.chatsShowing.all(alertId) as Array<{ chat_id: number }>).map((r) => r.chat_id),
    saveRendered: (rendered) => void stmt.save.run(renderedColumns(rendered)),
    invalidate: (alertId, chatId) => void stmt.invalidate.run(alertId, chatId),
    listRecentRows: (sinceMs) => (stmt.recent.all(...LIVE_PHASES, sinceMs) as RawMessage[]).map(toMessageRow),
    listOpenRenderedBefore: (beforeMs) => (stmt.openBefore.all(beforeMs) as RawMessage[]).map(toMessageRow),
    enqueueAlert: (chatId, alertId, priority, now) => void stmt.enqueueAlert.run(chatId, alertId, priority, now),
    enqueueText: (chatId, payload, priority, now) => void stmt.enqueueText.run(chatId, JSON.stringify(payload), priority, now),
    listDue: (now, limit) => (stmt.due.all({ now, limit }) as RawJob[]).map(toJob),
    listFresh: (chatId, now, limit) => (stmt.fresh.all(chatId, now, limit) as RawJob[]).map(toJob),
    nextNotBefore: () => (stmt.nextNotBefore.get() as { t: number | null }).t ?? undefined,
    complete: (job) => stmt.complete.run(job.id, job.seq).changes > 0,
    claimSend: (job, at) => stmt.claim.run({ id: job.id, at, seen: job.sendingSince ?? null }).changes > 0,
    markSending: (jobId, at) => void stmt.markSending.run(at ?? null, jobId),
    postpone: (jobId, notBefore, options) => void stmt.postpone.run({ id: jobId, notBefore, keep: options?.keepInFlightMark ? 1 : 0 }),
    drop: (jobId) => void stmt.drop.run(jobId),
    depth: () => (stmt.depth.get() as { n: number }).n,
    trackAction: (action) => void stmt.track.run({ ...action, ip: action.ip ?? null }),
    listTrackedBlocks: () => (stmt.blocks.all() as RawTracked[]).map(toTracked),
    addListLine: db.transaction((line: Parameters<TelegramOperations["addListLine"]>[0]) => {
      stmt.pruneLines.run(line.createdAt - LIST_LINE_KEEP_MS);
      stmt.addLine.run({ ...line, keyboard: JSON.stringify(line.keyboard) });
    }),
    listLineOf: (actionId) => {
      const raw = stmt.lineOf.get(actionId) as RawLine | undefined;
      return raw ? toListLine(raw) : undefined;
    },
    listLinesOfMessage: (chatId, messageId) => (stmt.linesOf.all(chatId, messageId) as RawLine[]).map(toListLine),
    followFleet: (r) => void stmt.followFleet.run(r.fleetId, r.chatId, r.alertId ?? null),
    getFleetMessage: (fleetId, chatId) => {
      const raw = stmt.getFleet.get(fleetId, chatId) as RawFleetMessage | undefined;
      return raw ? toFleetMessage(raw) : undefined;
    },
    fleetChats: (fleetId) => (stmt.fleetChats.all(fleetId) as Array<{ chat_id: number }>).map((r) => r.chat_id),
    fleetAnswersAlert: (alertId) => stmt.fleetOfAlert.get(alertId) !== undefined,
    saveFleetSent: (fleetId, chatId, messageId, hash) => void stmt.saveFleet.run(messageId ?? null, hash ?? null, fleetId, chatId),
  };
}
