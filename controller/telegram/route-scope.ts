import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, MiddlewareFn } from "telegraf";
import type { AgentLabels } from "../domain/agent-labels.js";
import type { AlertRecord } from "../store/store.js";
import type { TelegramConfig } from "./config.js";
import { chatCoversAgent, routeAlert, type RouteTarget } from "./routes.js";

/** What routing and silences need of an alert: who raised it, its kind, severity and state, when it came. */
export type RoutedAlert = Pick<AlertRecord, "alertId" | "agentId" | "receivedAt"> & { alert: Pick<AlertRecord["alert"], "kind" | "severity" | "state"> };

/** Alerts remembered for routing; the oldest are forgotten past this (a forgotten alert goes where it is shown). */
const MAX_REMEMBERED = 20_000;

/** The bridge's view of telegram.routes: where an alert goes, what a chat's commands show. */
export interface RouteScope {
  /** The configured chats (and topics) an alert goes to. */
  targets(record: RoutedAlert): RouteTarget[];
  /**
   * Keeps what routing needs of an alert read from the store, for the
   * lookups by id below (the bridge remembers every alert it reads before it
   * queues its messages).
   */
  remember(record: RoutedAlert): void;
  /** The remembered alert, if any. */
  recall(alertId: string): RoutedAlert | undefined;
  /** The chats a remembered alert goes to; undefined: not remembered. */
  chatsFor(alertId: string): number[] | undefined;
  /** The forum topic of an alert in a chat; undefined: the main thread (also for a chat it is not routed to). */
  threadOf(chatId: number, alertId: string): number | undefined;
  /** Whether /alerts in this chat lists the alert: it is routed there. */
  coversAlert(chatId: number, record: RoutedAlert): boolean;
  /** Whether /status, /blocks, /allows in this chat show the server. */
  coversAgent(chatId: number, agentId: string): boolean;
}

export function createRouteScope(config: TelegramConfig, labels: Pick<AgentLabels, "labelsOf">): RouteScope {
  const chatIds = config.chats.map((chat) => chat.id);
  const remembered = new Map<string, RoutedAlert>();
  const targets = (record: RoutedAlert): RouteTarget[] =>
    config.routes.length === 0
      ? chatIds.map((chatId) => ({ chatId, threadId: undefined }))
      : routeAlert(config.routes, { agentId: record.agentId, labels: labels.labelsOf(record.agentId), kind: record.alert.kind, severity: record.alert.severity }, chatIds);
  return {
    targets,
    remember(record) {
      const slim: RoutedAlert = { alertId: record.alertId, agentId: record.agentId, receivedAt: record.receivedAt, alert: { kind: record.alert.kind, severity: record.alert.severity, state: record.alert.state } };
      remembered.delete(record.alertId);
      remembered.set(record.alertId, slim);
      if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
    },
    recall: (alertId) => remembered.get(alertId),
    chatsFor(alertId) {
      const record = remembered.get(alertId);
      return record ? targets(record).map((t) => t.chatId) : undefined;
    },
    threadOf(chatId, alertId) {
      if (config.routes.length === 0) return undefined;
      const record = remembered.get(alertId);
      return record ? targets(record).find((t) => t.chatId === chatId)?.threadId : undefined;
    },
    coversAlert: (chatId, record) => config.routes.length === 0 || targets(record).some((t) => t.chatId === chatId),
    coversAgent: (chatId, agentId) => chatCoversAgent(config.routes, chatId, { agentId, labels: labels.labelsOf(agentId) }),
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
