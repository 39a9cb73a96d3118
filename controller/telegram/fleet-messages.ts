import type { Database } from "better-sqlite3";
import { migrate, type Migration } from "../store/migrate.js";

/**
 * The summary message of a block on all servers, per chat: which message
 * shows it and what it last showed. Kept beside the bridge's own tables
 * (component "telegram_fleet") so that results coming after a restart still
 * edit the same message.
 */
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

export interface FleetMessages {
  /** Records that a chat follows a fleet block (nothing happens when it already does). */
  add(row: Pick<FleetMessageRow, "fleetId" | "chatId" | "alertId">): void;
  get(fleetId: string, chatId: number): FleetMessageRow | undefined;
  /** Chats that follow a fleet block. */
  chatsOf(fleetId: string): number[];
  /** Whether a block on all servers answered this alert. */
  answersAlert(alertId: string): boolean;
  saveSent(fleetId: string, chatId: number, messageId: number | undefined, renderedHash: string | undefined): void;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE telegram_fleet_messages (
        fleet_id TEXT NOT NULL,
        chat_id INTEGER NOT NULL,
        alert_id TEXT,
        message_id INTEGER,
        rendered_hash TEXT,
        PRIMARY KEY (fleet_id, chat_id)
      );
      CREATE INDEX telegram_fleet_messages_alert ON telegram_fleet_messages (alert_id);
    `,
  },
];

interface Raw {
  fleet_id: string;
  chat_id: number;
  alert_id: string | null;
  message_id: number | null;
  rendered_hash: string | null;
}

export function createFleetMessages(db: Database): FleetMessages {
  migrate(db, "telegram_fleet", MIGRATIONS);
  const stmt = {
    add: db.prepare("INSERT OR IGNORE INTO telegram_fleet_messages (fleet_id, chat_id, alert_id) VALUES (?, ?, ?)"),
    get: db.prepare("SELECT * FROM telegram_fleet_messages WHERE fleet_id = ? AND chat_id = ?"),
    chats: db.prepare("SELECT chat_id FROM telegram_fleet_messages WHERE fleet_id = ? ORDER BY chat_id"),
    ofAlert: db.prepare("SELECT 1 FROM telegram_fleet_messages WHERE alert_id = ? LIMIT 1"),
    save: db.prepare("UPDATE telegram_fleet_messages SET message_id = ?, rendered_hash = ? WHERE fleet_id = ? AND chat_id = ?"),
  };
  return {
    add: (row) => void stmt.add.run(row.fleetId, row.chatId, row.alertId ?? null),
    get(fleetId, chatId) {
      const raw = stmt.get.get(fleetId, chatId) as Raw | undefined;
      if (!raw) return undefined;
      return { fleetId: raw.fleet_id, chatId: raw.chat_id, alertId: raw.alert_id ?? undefined, messageId: raw.message_id ?? undefined, renderedHash: raw.rendered_hash ?? undefined };
    },
    chatsOf: (fleetId) => (stmt.chats.all(fleetId) as Array<{ chat_id: number }>).map((r) => r.chat_id),
    answersAlert: (alertId) => stmt.ofAlert.get(alertId) !== undefined,
    saveSent: (fleetId, chatId, messageId, hash) => void stmt.save.run(messageId ?? null, hash ?? null, fleetId, chatId),
  };
}
