import type { FleetMessageRow, ListLine, MessageRow, OutgoingText, QueueJob, TelegramOperations, TrackedAction } from "./telegram-store.js";

// The Telegram tables' rows as both SQLite and PostgreSQL return them (BIGINT parsed to numbers), to records.

export interface RawMessage {
  alert_id: string;
  chat_id: number;
  message_id: number | null;
  digest_message_id: number | null;
  rendered_version: number;
  rendered_phase: string;
  rendered_hash: string | null;
  first_severity: number | null;
  rendered_at: number;
  sent_again: number | null;
}

export interface RawJob {
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

export interface RawTracked {
  action_id: string;
  agent_id: string;
  answer: number;
  ip: string | null;
  created_at: number;
}

export interface RawLine {
  action_id: string;
  chat_id: number;
  message_id: number;
  tapped: string;
  base_html: string;
  keyboard: string;
  created_at: number;
}

export interface RawFleetMessage {
  fleet_id: string;
  chat_id: number;
  alert_id: string | null;
  message_id: number | null;
  rendered_hash: string | null;
}

export function toMessageRow(raw: RawMessage): MessageRow {
  return {
    alertId: raw.alert_id,
    chatId: Number(raw.chat_id),
    messageId: raw.message_id === null ? undefined : Number(raw.message_id),
    digestMessageId: raw.digest_message_id === null ? undefined : Number(raw.digest_message_id),
    renderedVersion: Number(raw.rendered_version),
    renderedPhase: raw.rendered_phase,
    renderedHash: raw.rendered_hash ?? undefined,
    firstSeverity: raw.first_severity === null ? undefined : Number(raw.first_severity),
    renderedAt: Number(raw.rendered_at),
    sentAgain: Number(raw.sent_again ?? 0) === 1,
  };
}

export function toJob(raw: RawJob): QueueJob {
  return {
    id: Number(raw.id),
    chatId: Number(raw.chat_id),
    alertId: raw.alert_id ?? undefined,
    payload: raw.payload ? (JSON.parse(raw.payload) as OutgoingText) : undefined,
    priority: Number(raw.priority),
    seq: Number(raw.seq),
    enqueuedAt: Number(raw.enqueued_at),
    notBefore: Number(raw.not_before),
    attempts: Number(raw.attempts),
    sendingSince: raw.sending_since === null ? undefined : Number(raw.sending_since),
  };
}

export function toTracked(raw: RawTracked): TrackedAction {
  return { actionId: raw.action_id, agentId: raw.agent_id, answer: Number(raw.answer), ip: raw.ip ?? undefined, createdAt: Number(raw.created_at) };
}

export function toListLine(raw: RawLine): ListLine {
  return {
    actionId: raw.action_id,
    chatId: Number(raw.chat_id),
    messageId: Number(raw.message_id),
    tapped: raw.tapped,
    baseHtml: raw.base_html,
    keyboard: JSON.parse(raw.keyboard) as ListLine["keyboard"],
    createdAt: Number(raw.created_at),
  };
}

export function toFleetMessage(raw: RawFleetMessage): FleetMessageRow {
  return {
    fleetId: raw.fleet_id,
    chatId: Number(raw.chat_id),
    alertId: raw.alert_id ?? undefined,
    messageId: raw.message_id === null ? undefined : Number(raw.message_id),
    renderedHash: raw.rendered_hash ?? undefined,
  };
}

/** A saveRendered row's columns (absent values as NULL). */
export function renderedColumns(row: Parameters<TelegramOperations["saveRendered"]>[0]): Record<string, string | number | null> {
  return {
    alertId: row.alertId,
    chatId: row.chatId,
    messageId: row.messageId ?? null,
    digestMessageId: row.digestMessageId ?? null,
    renderedVersion: row.renderedVersion,
    renderedPhase: row.renderedPhase,
    renderedHash: row.renderedHash ?? null,
    firstSeverity: row.firstSeverity ?? null,
    renderedAt: row.renderedAt,
    sentAgain: row.sentAgain === undefined ? null : row.sentAgain ? 1 : 0,
  };
}
