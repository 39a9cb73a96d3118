import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { AlertRecord, Store } from "../store/store.js";
import { Priority, type TelegramStore } from "../store/telegram-store.js";

/** Rows rendered within this window are checked for staleness on start. */
const RESUME_WINDOW_MS = 7 * 86_400_000;

/** On start: queue every alert whose stored version is newer than what its messages show; open alerts a silence holds (`held`) wait for its digest. */
export async function resumeMessages(
  messages: TelegramStore,
  store: Store,
  chatIds: number[],
  at: number,
  held: (alertId: string) => boolean = () => false,
  /** The chats an open alert goes to (telegram.routes). Default: every chat. */
  chatsFor: (record: AlertRecord) => readonly number[] = () => chatIds,
): Promise<void> {
  for (const row of await messages.listRecentRows(at - RESUME_WINDOW_MS)) {
    const record = await store.getAlert(row.alertId);
    if (!record) continue;
    const stale = record.version > row.renderedVersion || row.renderedPhase === "answered:sent" || row.renderedPhase === "answered:queued";
    if (stale) await messages.enqueueAlert(row.chatId, row.alertId, row.messageId !== undefined ? Priority.update : Priority.fresh, at);
  }
  for (const record of await store.listOpenAlerts(10_000)) {
    if (held(record.alertId)) continue;
    for (const chatId of chatsFor(record)) {
      if (!(await messages.getMessage(record.alertId, chatId))) await messages.enqueueAlert(chatId, record.alertId, Priority.fresh, at);
    }
  }
}

/** Every `everyMs`: open messages older than the answer window are queued again, so that they show the expiry (one sweep at a time). */
export function startExpirySweep(deps: { messages: TelegramStore; answerWindowMs: number; everyMs: number; logger: Logger; now: () => number; kick: () => void }): NodeJS.Timeout {
  const { messages, now } = deps;
  let sweeping = false;
  const expireOpen = async (): Promise<void> => {
    for (const row of await messages.listOpenRenderedBefore(now() - deps.answerWindowMs)) await messages.enqueueAlert(row.chatId, row.alertId, Priority.update, now());
    deps.kick();
  };
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    expireOpen()
      .catch((err: unknown) => deps.logger.error({ err: describeError(err) }, "telegram: could not look for expired messages"))
      .finally(() => (sweeping = false));
  }, deps.everyMs);
  timer.unref();
  return timer;
}
