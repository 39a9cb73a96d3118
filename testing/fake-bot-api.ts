import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createFakeFaults, waitForChange, type FailOptions, type HeldCalls, type HoldOptions } from "./fake-bot-api-faults.js";
import { ApiError, checkCallbackAnswer, checkMarkup, checkText, parseJson, readBody, type InlineKeyboardMarkup } from "./fake-bot-api-requests.js";

/**
 * A local stand-in for Telegram's Bot API, for tests and for the demo (there is
 * no internet here). It speaks the same HTTP protocol as api.telegram.org for
 * the methods the bridge uses, keeps the chats' messages, lets a test push
 * updates (button taps, commands), inject error answers and hold calls
 * (fake-bot-api-faults.ts). Every request passes the strict checker
 * (fake-bot-api-checks.ts): what Telegram refuses, it refuses.
 */

export interface FakeUser {
  id: number;
  username?: string;
  first_name?: string;
}

export type { InlineKeyboardMarkup };

/** A message as the fake holds it now (after edits). */
export interface FakeMessage {
  chatId: number;
  messageId: number;
  text: string;
  replyMarkup: InlineKeyboardMarkup | undefined;
  sentAt: number;
  deleted: boolean;
  /** Every text the message has had, first to last. */
  history: string[];
  /** The forum topic it was sent to (message_thread_id); undefined: the chat's main thread. */
  threadId: number | undefined;
}

export interface FakeCall {
  method: string;
  params: Record<string, unknown>;
  /** When the request arrived. */
  at: number;
  /** The HTTP status answered. */
  status: number;
}

export interface AnsweredCallback {
  callbackQueryId: string;
  text: string | undefined;
  showAlert: boolean;
}

export interface FakeBotApiOptions {
  /** The bot token the fake accepts. Default: a fixed test token. */
  token?: string;
  /** The bot's @username. Default: "secarc_test_bot". */
  username?: string;
  /** Port on 127.0.0.1. Default: 0 (any free port). */
  port?: number;
}

export interface FakeBotApi {
  /** Pass as `telegram.apiRoot`, e.g. "http://127.0.0.1:40123". Valid after start(). */
  readonly apiRoot: string;
  readonly token: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Every API call, in order. */
  readonly calls: readonly FakeCall[];
  /** Every message ever sent, in order (with its current text and buttons). */
  readonly messages: readonly FakeMessage[];
  /** Answered callback queries, in order. */
  readonly answeredCallbacks: readonly AnsweredCallback[];
  /** The commands of the last setMyCommands. */
  readonly commands: ReadonlyArray<{ command: string; description: string }>;
  /** Messages of one chat that are not deleted. */
  messagesIn(chatId: number): FakeMessage[];
  message(chatId: number, messageId: number): FakeMessage | undefined;
  /** Queues an update for getUpdates; returns its update_id. */
  pushUpdate(update: Record<string, unknown>): number;
  /** Telegram issued this callback query id (an update the test delivers itself, e.g. to a webhook): it may be answered. */
  issueCallbackQuery(id: string): void;
  /** A user taps an inline button; returns the callback query id. */
  tapButton(chatId: number, messageId: number, callbackData: string, from: FakeUser): string;
  /** A user sends a text (e.g. "/status") in a chat; returns the new message's id. */
  sendCommand(chatId: number, from: FakeUser, text: string, options?: { threadId?: number }): number;
  /** Makes a group a forum with a new topic (as createForumTopic does); returns its message_thread_id. */
  addForumTopic(chatId: number, name: string): number;
  /** The next `count` calls of the given methods (default: sending and editing) answer HTTP 429 with retry_after. */
  failNext(count: number, options?: FailOptions): void;
  /** Holds the next matching calls without an answer until released (a hanging Telegram). */
  hold(options?: HoldOptions): HeldCalls;
  /** Resolves when the predicate holds (checked after every call and update), rejects after timeoutMs. */
  waitFor<T>(predicate: () => T | undefined | false, timeoutMs: number): Promise<T>;
  /** Emits "call" (FakeCall) after every API call. */
  readonly events: EventEmitter;
}

/** How long a long poll whose client aborted it may take to be seen closed before a newer poll counts it as a second poller. */
const GONE_POLLER_GRACE_MS = 100;

const DEFAULT_TOKEN = "123456:TEST-fake-bot-api-token";

export function createFakeBotApi(options: FakeBotApiOptions = {}): FakeBotApi {
  const token = options.token ?? DEFAULT_TOKEN;
  const username = options.username ?? "secarc_test_bot";
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const calls: FakeCall[] = [];
  const messages: FakeMessage[] = [];
  const byKey = new Map<string, FakeMessage>();
  const nextMessageId = new Map<number, number>();
  /** Forum topics per group: message_thread_id → name. */
  const topics = new Map<number, Map<number, string>>();
  const answeredCallbacks: AnsweredCallback[] = [];
  let commands: Array<{ command: string; description: string }> = [];
  let updates: Array<{ update_id: number } & Record<string, unknown>> = [];
  let nextUpdateId = 1;
  let nextCallbackId = 1;
  const pollers = new Set<() => void>();
  /** Ends the long poll waiting now with 409, as Telegram does when another getUpdates arrives (one poller per bot). */
  let terminatePoll: (() => void) | undefined;
  /** Set by setWebhook: getUpdates is refused while a webhook is set. */
  let webhookUrl: string | undefined;
  const faults = createFakeFaults();
  const openQueries = new Set<string>();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let apiRoot = "";
  let stopped = false;

  function notify(): void {
    events.emit("change");
  }

  function allocateMessageId(chatId: number): number {
    const id = nextMessageId.get(chatId) ?? 1;
    nextMessageId.set(chatId, id + 1);
    return id;
  }

  function pushUpdate(update: Record<string, unknown>): number {
    const updateId = nextUpdateId++;
    const query = update.callback_query as { id?: unknown } | undefined;
    if (query?.id !== undefined) openQueries.add(String(query.id));
    updates.push({ ...update, update_id: updateId });
    for (const wake of [...pollers]) wake();
    notify();
    return updateId;
  }

  function chatOf(chatId: number): Record<string, unknown> {
    if (chatId >= 0) return { id: chatId, type: "private", first_name: `chat ${chatId}` };
    return { id: chatId, type: "supergroup", title: `group ${chatId}`, ...(topics.has(chatId) ? { is_forum: true } : {}) };
  }

  /** message_thread_id as Telegram checks it: an integer naming a topic of this forum; undefined when not given. */
  function checkThread(chatId: number, params: Record<string, unknown>): number | undefined {
    if (params.message_thread_id === undefined) return undefined;
    const threadId = Number(params.message_thread_id);
    if (!Number.isSafeInteger(threadId) || threadId <= 0) throw new ApiError(400, "Bad Request: invalid message thread identifier specified");
    if (!topics.get(chatId)?.has(threadId)) throw new ApiError(400, "Bad Request: message thread not found");
    return threadId;
  }

  function userOf(from: FakeUser): Record<string, unknown> {
    return { id: from.id, is_bot: false, first_name: from.first_name ?? from.username ?? `user${from.id}`, ...(from.username ? { username: from.username } : {}) };
  }

  function messageJson(message: FakeMessage): Record<string, unknown> {
    return {
      message_id: message.messageId,
      date: Math.floor(message.sentAt / 1000),
      chat: chatOf(message.chatId),
      from: { id: 1, is_bot: true, first_name: "SecARC", username },
      text: message.text,
      ...(message.replyMarkup ? { reply_markup: message.replyMarkup } : {}),
      ...(message.threadId !== undefined ? { message_thread_id: message.threadId, is_topic_message: true } : {}),
    };
  }

  function requireMessage(params: Record<string, unknown>): FakeMessage {
    const message = byKey.get(`${Number(params.chat_id)}:${Number(params.message_id)}`);
    if (!message || message.deleted) throw new ApiError(400, "Bad Request: message to edit not found");
    return message;
  }

  const methods: Record<string, (params: Record<string, unknown>, res: ServerResponse) => unknown | Promise<unknown>> = {
    getMe: () => ({ id: 1, is_bot: true, first_name: "SecARC", username, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false }),
    deleteWebhook: () => ((webhookUrl = undefined), true),
    setWebhook: (params) => ((webhookUrl = String(params.url ?? "")), true),
    setMyCommands: (params) => {
      commands = parseJson(params.commands) as typeof commands;
      return true;
    },
    getMyCommands: () => commands,
    getUpdates: (params, res) => getUpdates(params, res),
    sendMessage: (params) => {
      const chatId = Number(params.chat_id);
      if (!Number.isSafeInteger(chatId) || chatId === 0) throw new ApiError(400, "Bad Request: chat not found");
      const threadId = checkThread(chatId, params);
      const text = checkText(params);
      const replyMarkup = checkMarkup(params.reply_markup);
      const message: FakeMessage = { chatId, messageId: allocateMessageId(chatId), text, replyMarkup, sentAt: Date.now(), deleted: false, history: [text], threadId };
      messages.push(message);
      byKey.set(`${chatId}:${message.messageId}`, message);
      return messageJson(message);
    },
    editMessageText: (params) => {
      const message = requireMessage(params);
      const text = checkText(params);
      const replyMarkup = checkMarkup(params.reply_markup);
      if (text === message.text && JSON.stringify(replyMarkup) === JSON.stringify(message.replyMarkup)) {
        throw new ApiError(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message");
      }
      message.text = text;
      message.replyMarkup = replyMarkup;
      message.history.push(text);
      return messageJson(message);
    },
    editMessageReplyMarkup: (params) => {
      const message = requireMessage(params);
      const replyMarkup = checkMarkup(params.reply_markup);
      if (JSON.stringify(replyMarkup) === JSON.stringify(message.replyMarkup)) throw new ApiError(400, "Bad Request: message is not modified");
      message.replyMarkup = replyMarkup;
      return messageJson(message);
    },
    deleteMessage: (params) => {
      const message = requireMessage(params);
      message.deleted = true;
      return true;
    },
    answerCallbackQuery: (params) => {
      const id = String(params.callback_query_id);
      const text = checkCallbackAnswer(params);
      if (!openQueries.delete(id)) throw new ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid");
      answeredCallbacks.push({ callbackQueryId: id, text, showAlert: params.show_alert === true || params.show_alert === "true" });
      return true;
    },
  };

  async function getUpdates(params: Record<string, unknown>, res: ServerResponse): Promise<unknown> {
    if (webhookUrl) throw new ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    terminatePoll?.();
    const offset = Number(params.offset ?? 0);
    const limit = Math.min(100, Math.max(1, Number(params.limit ?? 100)));
    const timeoutMs = Math.min(50, Math.max(0, Number(params.timeout ?? 0))) * 1000;
    if (offset > 0) updates = updates.filter((u) => u.update_id >= offset);
    const take = () => updates.filter((u) => u.update_id >= offset).slice(0, limit);
    let ready = take();
    if (ready.length > 0 || timeoutMs === 0 || stopped) return ready;
    let terminated = false;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        pollers.delete(wake);
        if (terminatePoll === terminate) terminatePoll = undefined;
        resolve();
      };
      let gone = false;
      // A poller that went away (its request aborted) is no longer one; its close may arrive just after the next poll.
      const terminate = () => void setTimeout(() => gone || ((terminated = true), wake()), GONE_POLLER_GRACE_MS).unref();
      const timer = setTimeout(wake, timeoutMs);
      pollers.add(wake);
      terminatePoll = terminate;
      res.once("close", () => ((gone = true), wake()));
    });
    if (terminated) throw new ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running");
    ready = take();
    return ready;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedAt = Date.now();
    const url = new URL(req.url ?? "/", "http://fake");
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    let params: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const send = (status: number, body: unknown, method: string) => {
      calls.push({ method, params, at: arrivedAt, status });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
      events.emit("call", calls[calls.length - 1]);
      notify();
    };
    try {
      params = { ...params, ...(await readBody(req)) };
    } catch (err) {
      send(400, { ok: false, error_code: 400, description: err instanceof ApiError ? err.description : "Bad Request: cannot parse body" }, match?.[2] ?? "?");
      return;
    }
    if (!match) return send(404, { ok: false, error_code: 404, description: "Not Found" }, "?");
    const [, givenToken, method] = match as unknown as [string, string, string];
    if (givenToken !== token) return send(401, { ok: false, error_code: 401, description: "Unauthorized" }, method);
    const failure = faults.failureFor(method, params);
    if (failure) return send(failure.status, failure.body, method);
    const implementation = methods[method];
    if (!implementation) return send(404, { ok: false, error_code: 404, description: "Not Found: method not found" }, method);
    const held = faults.holdFor(method, params);
    if (held && !held.deliverFirst) await held.wait;
    let answer: { status: number; body: unknown };
    try {
      answer = { status: 200, body: { ok: true, result: await implementation(params, res) } };
    } catch (err) {
      if (err instanceof ApiError) answer = { status: err.status, body: { ok: false, error_code: err.status, description: err.description } };
      else answer = { status: 500, body: { ok: false, error_code: 500, description: "Internal Server Error" } };
    }
    if (held?.deliverFirst) {
      notify();
      await held.wait;
    }
    if (!res.destroyed) send(answer.status, answer.body, method);
  }

  return {
    get apiRoot() {
      return apiRoot;
    },
    token,
    calls,
    messages,
    answeredCallbacks,
    get commands() {
      return commands;
    },
    events,
    async start() {
      stopped = false;
      const srv = createServer((req, res) => void handle(req, res));
      srv.on("connection", (socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(options.port ?? 0, "127.0.0.1", () => resolve());
      });
      server = srv;
      apiRoot = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    },
    async stop() {
      stopped = true;
      faults.releaseAll();
      for (const wake of [...pollers]) wake();
      const srv = server;
      server = undefined;
      if (!srv) return;
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 50).unref();
      });
    },
    messagesIn(chatId) {
      return messages.filter((m) => m.chatId === chatId && !m.deleted);
    },
    message(chatId, messageId) {
      return byKey.get(`${chatId}:${messageId}`);
    },
    pushUpdate,
    issueCallbackQuery: (id) => void openQueries.add(id),
    tapButton(chatId, messageId, callbackData, from) {
      const message = byKey.get(`${chatId}:${messageId}`);
      const id = `cbq-${nextCallbackId++}`;
      pushUpdate({
        callback_query: {
          id,
          from: userOf(from),
          chat_instance: `ci-${chatId}`,
          data: callbackData,
          message: message ? messageJson(message) : { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: chatOf(chatId), text: "" },
        },
      });
      return id;
    },
    sendCommand(chatId, from, text, commandOptions = {}) {
      const messageId = allocateMessageId(chatId);
      const command = /^\/[A-Za-z0-9_]+/.exec(text);
      const thread = commandOptions.threadId;
      pushUpdate({
        message: {
          message_id: messageId,
          date: Math.floor(Date.now() / 1000),
          chat: chatOf(chatId),
          from: userOf(from),
          text,
          ...(thread !== undefined ? { message_thread_id: thread, is_topic_message: true } : {}),
          ...(command ? { entities: [{ type: "bot_command", offset: 0, length: command[0].length }] } : {}),
        },
      });
      return messageId;
    },
    addForumTopic(chatId, name) {
      if (chatId >= 0) throw new Error("only groups can be forums");
      const chatTopics = topics.get(chatId) ?? new Map<number, string>();
      topics.set(chatId, chatTopics);
      // Telegram numbers a topic by the id of the service message that created it.
      const threadId = allocateMessageId(chatId);
      chatTopics.set(threadId, name);
      return threadId;
    },
    failNext: (count, failOptions) => faults.failNext(count, failOptions),
    hold: (holdOptions) => faults.hold(holdOptions),
    waitFor: <T>(predicate: () => T | undefined | false, timeoutMs: number) => waitForChange(events, predicate, timeoutMs),
  };
}
