import type { Logger } from "../../common/log.js";
import type { ActionRequests } from "../domain/action-requests.js";
import type { FleetTelegram } from "./fleet-telegram.js";
import type { Store } from "../store/store.js";
import type { InlineKeyboard } from "./alert-message.js";
import type { AlertRenderer } from "./alert-renderer.js";
import type { TelegramConfig } from "./config.js";
import type { ListResults } from "./list-results.js";
import type { RouteScope } from "./route-scope.js";
import type { OutgoingText, TelegramOperations, TelegramStore } from "../store/telegram-store.js";

/** What the bot's features share; built once in bridge.ts. */
export interface BridgeServices {
  config: TelegramConfig;
  store: Store;
  actions: ActionRequests;
  messages: TelegramStore;
  renderer: AlertRenderer;
  /** Unblock/Revoke taps followed to their results in the list message. */
  lists: ListResults;
  logger: Logger;
  now: () => number;
  /**
   * Re-renders an alert's message in every configured chat, every chat
   * already showing it, and `alsoChat`; queued through `ops` (a transaction's,
   * default: the store).
   */
  refreshAlert(alertId: string, priority: number, alsoChat?: number, ops?: TelegramOperations): Promise<void>;
  /** Blocks on all servers and their summary messages. Default (undefined): not offered. */
  fleet?: FleetTelegram;
  /** telegram.routes: where alerts go, what each chat's commands show. Default (undefined): every chat sees everything. */
  routes?: RouteScope;
  /** Answers a tap (its popup) within its deadline, without holding the update handling. */
  answerCallback(queryId: string, text?: string, options?: { showAlert?: boolean }): void;
  /** Replaces a message's buttons at once (the confirmation row), within the send deadline. */
  editButtons(chatId: number, messageId: number, keyboard: InlineKeyboard): Promise<void>;
  /** Sends a prepared message to a chat through the send queue. */
  reply(chatId: number, payload: OutgoingText): void;
  /**
   * Runs bookkeeping (the bridge's own tables, through `tx`) after the
   * current turn of the event loop, batched into one transaction, so that it
   * never delays an action on its way to the agent. Audit entries written
   * from it go to the store after that transaction.
   */
  later(work: (tx: TelegramOperations) => Promise<void>): void;
  /** Writes an audit entry (in the background; a failure is logged). */
  audit(actor: string, event: string, detail: string): void;
}

/** "telegram:123 (@alice)": who did something, for the audit log. */
export function telegramActor(from: { id: number; username?: string } | undefined): string {
  if (!from) return "telegram:unknown";
  return `telegram:${from.id}${from.username ? ` (@${from.username})` : ""}`;
}
