import type { Database } from "better-sqlite3";

/** How long a tapped list message is followed: older lines are forgotten (their message is long scrolled away). */
const KEEP_MS = 30 * 24 * 3_600_000;

/**
 * A tap on Unblock (/blocks) or Revoke (/allows): the list message it came
 * from, what that message showed at its first tap (text and buttons), the
 * tapped button, and the action it started. Kept in the controller's store so
 * that the result, even one that comes after a restart, edits that message.
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

export interface ListLineStore {
  /** Records a tap's line (a second record of the same action is ignored); forgets lines older than 30 days. */
  add(line: ListLine): void;
  /** The line of an action, if a list tap started it. */
  byAction(actionId: string): ListLine | undefined;
  /** The lines of a list message, first tap first. */
  ofMessage(chatId: number, messageId: number): ListLine[];
}

/** Migration 3 of the "telegram" component (message-store.ts). */
export const LIST_LINES_SQL = `
  CREATE TABLE telegram_list_lines (
    action_id TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    tapped TEXT NOT NULL,
    base_html TEXT NOT NULL,
    keyboard TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX telegram_list_lines_message ON telegram_list_lines (chat_id, message_id, created_at);
`;

interface RawLine {
  action_id: string;
  chat_id: number;
  message_id: number;
  tapped: string;
  base_html: string;
  keyboard: string;
  created_at: number;
}

/** The statements behind ListLineStore; the tables exist (migrated by createMessageStore). */
export function createListLineStore(db: Database): ListLineStore {
  const stmt = {
    add: db.prepare(`INSERT OR IGNORE INTO telegram_list_lines (action_id, chat_id, message_id, tapped, base_html, keyboard, created_at)
      VALUES (@actionId, @chatId, @messageId, @tapped, @baseHtml, @keyboard, @createdAt)`),
    prune: db.prepare("DELETE FROM telegram_list_lines WHERE created_at < ?"),
    byAction: db.prepare("SELECT * FROM telegram_list_lines WHERE action_id = ?"),
    ofMessage: db.prepare("SELECT * FROM telegram_list_lines WHERE chat_id = ? AND message_id = ? ORDER BY created_at, rowid"),
  };
  return {
    add(line) {
      stmt.prune.run(line.createdAt - KEEP_MS);
      stmt.add.run({ ...line, keyboard: JSON.stringify(line.keyboard) });
    },
    byAction: (actionId) => toLine(stmt.byAction.get(actionId) as RawLine | undefined),
    ofMessage: (chatId, messageId) => (stmt.ofMessage.all(chatId, messageId) as RawLine[]).map((raw) => toLine(raw)!),
  };
}

function toLine(raw: RawLine | undefined): ListLine | undefined {
  if (!raw) return undefined;
  return {
    actionId: raw.action_id,
    chatId: raw.chat_id,
    messageId: raw.message_id,
    tapped: raw.tapped,
    baseHtml: raw.base_html,
    keyboard: JSON.parse(raw.keyboard) as ListLine["keyboard"],
    createdAt: raw.created_at,
  };
}
