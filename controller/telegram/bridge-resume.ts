import type { AlertRecord, Store } from "../store/store.js";
import { Priority, type MessageStore } from "./message-store.js";

/** Rows rendered within this window are checked for staleness on start. */
const RESUME_WINDOW_MS = 7 * 86_400_000;

/** On start: queue every alert whose stored version is newer than what its messages show; open alerts a silence holds (`held`) wait for its digest. */
export async function resumeMessages(
  messages: MessageStore,
  store: Store,
  chatIds: number[],
  at: number,
  held: (alertId: string) => boolean = () => false,
  /** The chats an open alert goes to (telegram.routes). Default: every chat. */
  chatsFor: (record: AlertRecord) => readonly number[] = () => chatIds,
): Promise<void> {
  for (const row of messages.listRecentRows(at - RESUME_WINDOW_MS)) {
    const record = await store.getAlert(row.alertId);
    if (!record) continue;
    const stale = record.version > row.renderedVersion || row.renderedPhase === "answered:sent" || row.renderedPhase === "answered:queued";
    if (stale) messages.enqueueAlert(row.chatId, row.alertId, row.messageId !== undefined ? Priority.update : Priority.fresh, at);
  }
  for (const record of await store.listOpenAlerts(10_000)) {
    if (held(record.alertId)) continue;
    for (const chatId of chatsFor(record)) {
      if (!messages.getMessage(record.alertId, chatId)) messages.enqueueAlert(chatId, record.alertId, Priority.fresh, at);
    }
  }
}
