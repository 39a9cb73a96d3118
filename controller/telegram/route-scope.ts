import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, MiddlewareFn } from "telegraf";
import type { AlertRecord, Store } from "../store/store.js";
import type { TelegramConfig } from "./config.js";
import { chatCoversAgent, routeAlert, type RouteTarget } from "./routes.js";

/** The bridge's view of telegram.routes: where an alert goes, what a chat's commands show. */
export interface RouteScope {
  /** The configured chats (and topics) an alert goes to. */
  targets(record: AlertRecord): RouteTarget[];
  /** The forum topic of an alert in a chat; undefined: the main thread (also for a chat it is not routed to). */
  threadOf(chatId: number, alertId: string): number | undefined;
  /** Whether /alerts in this chat lists the alert: it is routed there. */
  coversAlert(chatId: number, record: AlertRecord): boolean;
  /** Whether /status, /blocks, /allows in this chat show the server. */
  coversAgent(chatId: number, agentId: string): boolean;
}

export function createRouteScope(config: TelegramConfig, store: Store): RouteScope {
  const chatIds = config.chats.map((chat) => chat.id);
  const labelsOf = (agentId: string) => store.getAgent(agentId)?.labels ?? {};
  const targets = (record: AlertRecord): RouteTarget[] =>
    config.routes.length === 0
      ? chatIds.map((chatId) => ({ chatId, threadId: undefined }))
      : routeAlert(config.routes, { agentId: record.agentId, labels: labelsOf(record.agentId), kind: record.alert.kind, severity: record.alert.severity }, chatIds);
  return {
    targets,
    threadOf(chatId, alertId) {
      if (config.routes.length === 0) return undefined;
      const record = store.getAlert(alertId);
      return record ? targets(record).find((t) => t.chatId === chatId)?.threadId : undefined;
    },
    coversAlert: (chatId, record) => config.routes.length === 0 || targets(record).some((t) => t.chatId === chatId),
    coversAgent: (chatId, agentId) => chatCoversAgent(config.routes, chatId, { agentId, labels: labelsOf(agentId) }),
  };
}

/**
 * Replies go to the forum topic the update came from: a middleware keeps the
 * update's chat and topic for the work it starts (async included), and
 * `threadFor` gives the topic of a reply to that chat.
 */
export function createReplyThreads(): { middleware: MiddlewareFn<Context>; threadFor(chatId: number): number | undefined } {
  const origin = new AsyncLocalStorage<{ chatId: number; threadId: number }>();
  return {
    middleware(ctx, next) {
      const message = ctx.message ?? ctx.callbackQuery?.message;
      const threadId = message && "message_thread_id" in message && message.is_topic_message ? message.message_thread_id : undefined;
      if (!ctx.chat || threadId === undefined) return next();
      return origin.run({ chatId: ctx.chat.id, threadId }, next);
    },
    threadFor(chatId) {
      const current = origin.getStore();
      return current?.chatId === chatId ? current.threadId : undefined;
    },
  };
}
