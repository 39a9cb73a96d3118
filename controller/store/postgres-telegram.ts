import type postgres from "postgres";
import { migratePostgres } from "./postgres-migrate.js";
import type { PgQuery, PgSql } from "./postgres-types.js";
import { renderedColumns, toFleetMessage, toJob, toListLine, toMessageRow, toTracked, type RawFleetMessage, type RawJob, type RawLine, type RawMessage, type RawTracked } from "./telegram-rows.js";
import { postgresTelegramFleetMigrations, postgresTelegramMigrations } from "./telegram-schema.js";
import { LIST_LINE_KEEP_MS, LIVE_PHASES, Priority, type TelegramOperations, type TelegramStore } from "./telegram-store.js";

type Ops = { [K in keyof TelegramOperations]: TelegramOperations[K] extends (...args: infer A) => infer R ? (q: PgQuery, ...args: A) => R : never };

/**
 * The Telegram bookkeeping in PostgreSQL (components "telegram" and
 * "telegram_fleet", the twins of SQLite's: telegram-schema.ts). Only the
 * replica holding the Telegram lease sends, but every claim is safe with two
 * on one database: `claimSend` is a conditional update, so of two that read
 * the same due job one sends it.
 */
export async function openPostgresTelegramStore(sql: PgSql, where: string): Promise<TelegramStore> {
  await migratePostgres(sql, "telegram", postgresTelegramMigrations, where);
  await migratePostgres(sql, "telegram_fleet", postgresTelegramFleetMigrations, where);
  const onPool: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, op] of Object.entries(OPS) as Array<[string, (q: PgQuery, ...args: unknown[]) => Promise<unknown>]>) {
    // A list line prunes and inserts: both or neither.
    onPool[name] = name === "addListLine" ? (...args) => sql.begin((tx) => op(tx, ...args)) : (...args) => op(sql, ...args);
  }
  return {
    ...(onPool as unknown as TelegramOperations),
    transaction: async <T>(fn: (tx: TelegramOperations) => Promise<T>): Promise<T> => (await sql.begin((tx) => fn(inTransaction(tx)))) as T,
  };
}

/** Each operation in a savepoint of the transaction: one that fails undoes only its own writes, and the transaction can go on. */
function inTransaction(tx: postgres.TransactionSql): TelegramOperations {
  const bound: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, op] of Object.entries(OPS) as Array<[string, (q: PgQuery, ...args: unknown[]) => Promise<unknown>]>) {
    bound[name] = (...args) => tx.savepoint((sp) => op(sp, ...args));
  }
  return bound as unknown as TelegramOperations;
}

const messageOps: Pick<Ops, "getMessage" | "findByMessage" | "chatsShowing" | "saveRendered" | "invalidate" | "listRecentRows" | "listOpenRenderedBefore"> = {
  async getMessage(q, alertId, chatId) {
    const [raw] = await q<RawMessage[]>`SELECT * FROM telegram_messages WHERE alert_id = ${alertId} AND chat_id = ${chatId}`;
    return raw ? toMessageRow(raw) : undefined;
  },
  async findByMessage(q, chatId, messageId) {
    const [raw] = await q<RawMessage[]>`SELECT * FROM telegram_messages WHERE chat_id = ${chatId} AND message_id = ${messageId}`;
    return raw ? toMessageRow(raw) : undefined;
  },
  async chatsShowing(q, alertId) {
    const rows = await q<Array<{ chat_id: number }>>`SELECT chat_id FROM telegram_messages WHERE alert_id = ${alertId} AND message_id IS NOT NULL`;
    return rows.map((r) => Number(r.chat_id));
  },
  async saveRendered(q, row) {
    const c = renderedColumns(row);
    await q`INSERT INTO telegram_messages (alert_id, chat_id, message_id, digest_message_id, rendered_version, rendered_phase, rendered_hash, first_severity, rendered_at, sent_again)
      VALUES (${c.alertId!}, ${c.chatId!}, ${c.messageId!}, ${c.digestMessageId!}, ${c.renderedVersion!}, ${c.renderedPhase!}, ${c.renderedHash!}, ${c.firstSeverity!}, ${c.renderedAt!}, ${c.sentAgain!})
      ON CONFLICT (alert_id, chat_id) DO UPDATE SET message_id = excluded.message_id,
        digest_message_id = COALESCE(excluded.digest_message_id, telegram_messages.digest_message_id),
        rendered_version = excluded.rendered_version, rendered_phase = excluded.rendered_phase, rendered_hash = excluded.rendered_hash,
        first_severity = COALESCE(telegram_messages.first_severity, excluded.first_severity), rendered_at = excluded.rendered_at,
        sent_again = COALESCE(excluded.sent_again, telegram_messages.sent_again)`;
  },
  async invalidate(q, alertId, chatId) {
    await q`UPDATE telegram_messages SET rendered_hash = NULL WHERE alert_id = ${alertId} AND chat_id = ${chatId}`;
  },
  async listRecentRows(q, sinceMs) {
    const rows = await q<RawMessage[]>`SELECT * FROM telegram_messages WHERE rendered_phase = ANY(${[...LIVE_PHASES]}::text[]) OR rendered_at >= ${sinceMs}`;
    return rows.map(toMessageRow);
  },
  async listOpenRenderedBefore(q, beforeMs) {
    const rows = await q<RawMessage[]>`SELECT * FROM telegram_messages WHERE rendered_phase = 'open' AND rendered_at < ${beforeMs} AND message_id IS NOT NULL`;
    return rows.map(toMessageRow);
  },
};

const queueOps: Pick<Ops, "enqueueAlert" | "enqueueText" | "listDue" | "listFresh" | "nextNotBefore" | "complete" | "claimSend" | "markSending" | "postpone" | "drop" | "depth"> = {
  async enqueueAlert(q, chatId, alertId, priority, now) {
    await q`INSERT INTO telegram_queue (chat_id, alert_id, priority, enqueued_at) VALUES (${chatId}, ${alertId}, ${priority}, ${now})
      ON CONFLICT (chat_id, alert_id) DO UPDATE SET priority = LEAST(telegram_queue.priority, excluded.priority), seq = telegram_queue.seq + 1`;
  },
  async enqueueText(q, chatId, payload, priority, now) {
    await q`INSERT INTO telegram_queue (chat_id, payload, priority, enqueued_at) VALUES (${chatId}, ${JSON.stringify(payload)}, ${priority}, ${now})`;
  },
  async listDue(q, now, limit) {
    // The most urgent due job of each chat, so that one busy chat never hides another.
    const rows = await q<RawJob[]>`SELECT * FROM (SELECT DISTINCT ON (chat_id) * FROM telegram_queue WHERE not_before <= ${now} ORDER BY chat_id, priority, id) d
      ORDER BY priority, id LIMIT ${limit}`;
    return rows.map(toJob);
  },
  async listFresh(q, chatId, now, limit) {
    const rows = await q<RawJob[]>`SELECT q.* FROM telegram_queue q LEFT JOIN telegram_messages m ON m.alert_id = q.alert_id AND m.chat_id = q.chat_id
      WHERE q.chat_id = ${chatId} AND q.alert_id IS NOT NULL AND q.priority = ${Priority.fresh} AND q.not_before <= ${now}
        AND (m.alert_id IS NULL OR (m.message_id IS NULL AND m.digest_message_id IS NULL)) ORDER BY q.id LIMIT ${limit}`;
    return rows.map(toJob);
  },
  async nextNotBefore(q) {
    const [row] = await q<Array<{ t: number | null }>>`SELECT min(not_before) AS t FROM telegram_queue`;
    return row?.t === null || row?.t === undefined ? undefined : Number(row.t);
  },
  async complete(q, job) {
    return (await q`DELETE FROM telegram_queue WHERE id = ${job.id} AND seq = ${job.seq}`).count > 0;
  },
  async claimSend(q, job, at) {
    const seen = job.sendingSince ?? null;
    return (await q`UPDATE telegram_queue SET sending_since = ${at} WHERE id = ${job.id} AND sending_since IS NOT DISTINCT FROM ${seen}::bigint`).count > 0;
  },
  async markSending(q, jobId, at) {
    await q`UPDATE telegram_queue SET sending_since = ${at ?? null} WHERE id = ${jobId}`;
  },
  async postpone(q, jobId, notBefore, options) {
    await q`UPDATE telegram_queue SET not_before = ${notBefore}, attempts = attempts + 1,
      sending_since = CASE WHEN ${options?.keepInFlightMark === true} THEN sending_since END WHERE id = ${jobId}`;
  },
  async drop(q, jobId) {
    await q`DELETE FROM telegram_queue WHERE id = ${jobId}`;
  },
  async depth(q) {
    const [row] = await q<Array<{ n: number }>>`SELECT count(*)::int AS n FROM telegram_queue`;
    return row?.n ?? 0;
  },
};

const otherOps: Omit<Ops, keyof typeof messageOps | keyof typeof queueOps> = {
  async trackAction(q, a) {
    await q`INSERT INTO telegram_actions (action_id, agent_id, answer, ip, created_at) VALUES (${a.actionId}, ${a.agentId}, ${a.answer}, ${a.ip ?? null}, ${a.createdAt})
      ON CONFLICT (action_id) DO NOTHING`;
  },
  async listTrackedBlocks(q) {
    return (await q<RawTracked[]>`SELECT * FROM telegram_actions ORDER BY created_at`).map(toTracked);
  },
  async addListLine(q, line) {
    await q`DELETE FROM telegram_list_lines WHERE created_at < ${line.createdAt - LIST_LINE_KEEP_MS}`;
    await q`INSERT INTO telegram_list_lines (action_id, chat_id, message_id, tapped, base_html, keyboard, created_at)
      VALUES (${line.actionId}, ${line.chatId}, ${line.messageId}, ${line.tapped}, ${line.baseHtml}, ${JSON.stringify(line.keyboard)}, ${line.createdAt})
      ON CONFLICT (action_id) DO NOTHING`;
  },
  async listLineOf(q, actionId) {
    const [raw] = await q<RawLine[]>`SELECT * FROM telegram_list_lines WHERE action_id = ${actionId}`;
    return raw ? toListLine(raw) : undefined;
  },
  async listLinesOfMessage(q, chatId, messageId) {
    return (await q<RawLine[]>`SELECT * FROM telegram_list_lines WHERE chat_id = ${chatId} AND message_id = ${messageId} ORDER BY created_at, id`).map(toListLine);
  },
  async followFleet(q, r) {
    await q`INSERT INTO telegram_fleet_messages (fleet_id, chat_id, alert_id) VALUES (${r.fleetId}, ${r.chatId}, ${r.alertId ?? null}) ON CONFLICT DO NOTHING`;
  },
  async getFleetMessage(q, fleetId, chatId) {
    const [raw] = await q<RawFleetMessage[]>`SELECT * FROM telegram_fleet_messages WHERE fleet_id = ${fleetId} AND chat_id = ${chatId}`;
    return raw ? toFleetMessage(raw) : undefined;
  },
  async fleetChats(q, fleetId) {
    return (await q<Array<{ chat_id: number }>>`SELECT chat_id FROM telegram_fleet_messages WHERE fleet_id = ${fleetId} ORDER BY chat_id`).map((r) => Number(r.chat_id));
  },
  async fleetAnswersAlert(q, alertId) {
    return (await q`SELECT 1 FROM telegram_fleet_messages WHERE alert_id = ${alertId} LIMIT 1`).length > 0;
  },
  async saveFleetSent(q, fleetId, chatId, messageId, hash) {
    await q`UPDATE telegram_fleet_messages SET message_id = ${messageId ?? null}, rendered_hash = ${hash ?? null} WHERE fleet_id = ${fleetId} AND chat_id = ${chatId}`;
  },
};

const OPS: Ops = { ...messageOps, ...queueOps, ...otherOps };
