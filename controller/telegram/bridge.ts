import { AsyncResource } from "node:async_hooks";
import { Telegraf } from "telegraf";
import type { Update } from "telegraf/types";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ActionRequests } from "../domain/action-requests.js";
import type { FleetBlocks } from "../domain/fleet-blocks.js";
import { createFleetCallbacks } from "./fleet-callbacks.js";
import { createFleetTelegram } from "./fleet-telegram.js";
import type { EventBus } from "../domain/events.js";
import type { Store } from "../store/store.js";
import { createAccessControl } from "./access-control.js";
import { createAlertCallbacks } from "./alert-callbacks.js";
import { createAllowsCommand } from "./allows-command.js";
import { createAlertRenderer } from "./alert-renderer.js";
import { createTelegrafBotApi, pausedUnless } from "./bot-api.js";
import { noTokenRunner, startBotRunner, type BotRunner, type TelegramConnection } from "./bot-runner.js";
import type { BridgeServices } from "./bridge-services.js";
import type { TelegramBridge } from "./bridge-types.js";
import { commandList, createCommands } from "./commands.js";
import { resolveBotToken, type TelegramConfig } from "./config.js";
import { createFailureWatch, type TelegramSendHealth } from "./failure-watch.js";
import { localeNames } from "./i18n/translations.js";
import { chatTranslations } from "./alert-renderer.js";
import { Priority, type TelegramOperations } from "../store/telegram-store.js";
import { createListResults } from "./list-results.js";
import { followControllerEvents } from "./bridge-events.js";
import { createSendPace } from "./send-pace.js";
import { localAddresses } from "../domain/action-target.js";
import { createBookkeeping } from "./bridge-bookkeeping.js";
import { resumeMessages, startExpirySweep } from "./bridge-resume.js";
import { createSendQueue } from "./send-queue.js";
import { createReplyThreads, createRouteScope } from "./route-scope.js";
import { createAgentLabels, type AgentLabels } from "../domain/agent-labels.js";
import { probeChats } from "./bridge-probe.js";
import { createSilenceCommands } from "./silence-commands.js";
import { attachSilences, type SilenceHold } from "./silence-digest.js";
import type { SilenceWatch } from "../domain/silence-watch.js";
import { safeText } from "./safe-text.js";
import { escapeHtml, formatTime } from "./text-format.js";
import { fenceBotApi, oncePerUpdate, type BridgeVoice } from "./bridge-voice.js";

export interface TelegramBridgeDeps {
  config: TelegramConfig;
  store: Store;
  events: EventBus;
  actions: ActionRequests;
  logger: Logger;
  now?: () => number;
  /** Hooks for the controller's metrics (queue depth, 429 answers, send health). Default: none. */
  metrics?: {
    setTelegramQueueDepth(depth: number): void;
    countTelegramRateLimited(): void;
    watchTelegramSends?(health: () => TelegramSendHealth): void;
    watchTelegramConnection?(connection: () => TelegramConnection): void;
    setTelegramParkedChats?(parked: number): void;
  };
  /** Silences and maintenance windows: held alerts are not posted; /silence, /silences. Default: none. */
  silences?: { watch: SilenceWatch; hold: SilenceHold };
  /** Blocks on all servers: "Block on all servers" under alerts, its summary message, its row in /blocks. Default: not offered. */
  fleet?: FleetBlocks;
  /** Agents' labels for telegram.routes (the controller's). Default: the bridge loads its own from the store. */
  labels?: Pick<AgentLabels, "labelsOf">;
  /** On PostgreSQL, one replica among several: the Telegram lease this bridge speaks under. Default: the only controller. */
  voice?: BridgeVoice;
}

export type { ProbeHopResult, TelegramBridge } from "./bridge-types.js";

/** How long a probe's test message may take to be sent. */
export const PROBE_WAIT_MS = 15_000;

/** How long start-up waits for the first attempt to reach the Bot API. */
const FIRST_ATTEMPT_WAIT_MS = 5_000;
/** How often open messages are checked for expiry (more often when the answer window is shorter). */
const EXPIRY_SWEEP_MS = 60_000;

/**
 * Starts the Telegram bridge: the bot (long polling, or a webhook), its
 * features installed in one place behind the allow-list, the durable send
 * queue, and the reconciler that keeps every alert's message showing the
 * alert's current state — including after a restart.
 */
export async function startTelegramBridge(deps: TelegramBridgeDeps): Promise<TelegramBridge> {
  const { config, store, events, logger } = deps;
  const now = deps.now ?? Date.now;
  const token = resolveBotToken(config);
  const messages = store.telegram;
  const fleet = deps.fleet ? createFleetTelegram({ fleet: deps.fleet, messages, config, events, logger, now, kick: () => queue.kick(), threadOf: (chatId, alertId) => routes.threadOf(chatId, alertId) }) : undefined;
  const renderer = createAlertRenderer({ store, messages, config, now, controllerAddresses: localAddresses, ...(fleet ? { fleet } : {}) });
  const lists = createListResults({ store, messages, config });
  const chatIds = config.chats.map((chat) => chat.id);

  // Without a token the bot is built but never started: the controller runs, alerts wait in the queue.
  const bot = new Telegraf(token ?? "0:no-token", {
    telegram: { ...(config.apiRoot ? { apiRoot: config.apiRoot } : {}), webhookReply: false },
    handlerTimeout: 30_000,
  });
  if (deps.voice) fenceBotApi(bot, deps.voice);

  // Set below; a 401 on any call tells the runner, which pauses the queue until the token is accepted.
  let runner: BotRunner | undefined;
  const api = createTelegrafBotApi(bot, config, logger, () => runner?.connection().state === "token_refused", (err) => runner?.refused(err));
  const watch = createFailureWatch({ thresholdMs: config.failureAlertAfter, logger, now });
  deps.metrics?.watchTelegramSends?.(() => watch.health());
  const pace = createSendPace({ perChatMs: config.pace.perChat, perGroupPerMinute: config.pace.perGroupPerMinute, globalPerSecond: config.pace.globalPerSecond });
  const queue = pausedUnless(() => runner?.connection().state === "ok", createSendQueue({
    api,
    store,
    messages,
    renderer,
    renderList: lists.render,
    pace,
    config,
    logger,
    now,
    threadOf: (chatId, alertId) => routes.threadOf(chatId, alertId),
    ...(fleet ? { runFleetJob: (job, call) => fleet.runJob(api, job, call) } : {}),
    onRateLimited: () => deps.metrics?.countTelegramRateLimited(),
    onDepth: (depth) => deps.metrics?.setTelegramQueueDepth(depth),
    onOutcome: (outcome) => watch.record(outcome),
    onParked: (parked) => deps.metrics?.setTelegramParkedChats?.(parked),
  }));

  const configuredChats = new Set(chatIds);
  const ownedLabels = deps.labels ? undefined : await ownLabels(store, events);
  const routes = createRouteScope(config, deps.labels ?? ownedLabels!);
  const threads = createReplyThreads();
  // An alert not read since the start goes where it is shown (and to the chat that asked for it).
  const chatsFor = (alertId: string): number[] => routes.chatsFor(alertId) ?? (config.routes.length === 0 ? chatIds : []);
  // A silence keeps its alerts from chats that do not show them yet; they get one digest when it ends.
  const silences = deps.silences ? attachSilences({ ...deps.silences, store, messages, config, chatIds: () => chatIds, routedTo: routes.coversAlert, recall: routes.recall, now, kick: () => queue.kick() }) : undefined;
  const held = (alertId: string): boolean => silences?.held(alertId) ?? false;
  async function refreshAlert(alertId: string, priority: number, alsoChat?: number, ops: TelegramOperations = messages): Promise<void> {
    const holding = held(alertId);
    // Only configured chats: a chat taken out of the config (or never in it) is shown nothing more.
    const candidates = new Set([...chatsFor(alertId), ...(await ops.chatsShowing(alertId)), ...(alsoChat !== undefined ? [alsoChat] : [])]);
    for (const chatId of candidates) {
      if (!configuredChats.has(chatId)) continue;
      const row = await ops.getMessage(alertId, chatId);
      if (holding && chatId !== alsoChat && row === undefined) continue;
      const effective = chatId === alsoChat ? priority : row?.messageId !== undefined ? Math.min(priority, Priority.update) : Priority.fresh;
      await ops.enqueueAlert(chatId, alertId, effective, now());
    }
    queue.kick();
  }

  let stopped = false;
  // Work deferred to the end of the event loop turn, committed in one transaction; replies in order.
  const bookkeeping = createBookkeeping({ messages, logger, now, kick: () => queue.kick(), stopped: () => stopped });
  const later = bookkeeping.later;
  const services: BridgeServices = {
    config,
    store,
    actions: deps.actions,
    messages,
    renderer,
    lists,
    logger,
    now,
    refreshAlert,
    routes,
    ...(fleet ? { fleet } : {}),
    later,
    answerCallback: (queryId, text, options) => api.answerCallback(queryId, text, options),
    editButtons: (chatId, messageId, keyboard) => api.editButtons(chatId, messageId, keyboard),
    reply(chatId, payload) {
      const threadId = payload.threadId ?? threads.threadFor(chatId);
      bookkeeping.reply(chatId, threadId !== undefined ? { ...payload, threadId } : payload);
    },
    // Bound to the bridge's own context: an entry written from `later` goes to the store after its transaction, not into it.
    audit: AsyncResource.bind(function audit(actor: string, event: string, detail: string): void {
      store.audit({ at: new Date(now()), actor: safeText(actor, { max: 200 }), event, detail: safeText(detail, { max: 2000 }) }).catch((err: unknown) => {
        logger.error({ err: describeError(err), event }, "telegram: audit entry not written");
      });
    }),
  };

  const callbacks = createAlertCallbacks(services, (chatId, offset) => commands.showAlerts(chatId, offset));
  const commands = createCommands(services, {
    sendHealth: () => watch.health(),
    parkedLine: (t) => {
      const parked = queue.parked();
      return parked.length === 0 ? undefined : parked.map((p) => t.sendHealth.parked({ chat: String(p.chatId), since: formatTime(p.since), error: escapeHtml(p.reason) })).join("\n");
    },
  });
  if (deps.voice) bot.use(oncePerUpdate(deps.voice, logger));
  // Any update from a chat shows it reachable again (someone said /start there): a parked chat resumes.
  bot.use((ctx, next) => {
    if (ctx.chat && configuredChats.has(ctx.chat.id)) queue.chatUpdate(ctx.chat.id);
    return next();
  });
  bot.use(threads.middleware);
  bot.use(createAccessControl(services));
  if (deps.silences) bot.use(createSilenceCommands(services, deps.silences.watch));
  bot.use(callbacks.composer);
  if (fleet) bot.use(createFleetCallbacks(services, fleet));
  bot.use(commands.composer);
  bot.use(createAllowsCommand(services));
  bot.catch((err, ctx) => {
    logger.error({ err: describeError(err), updateId: ctx.update.update_id }, "telegram: update handling failed");
    // Every callback query is answered, even when handling it failed.
    if (ctx.callbackQuery) api.answerCallback(ctx.callbackQuery.id);
  });

  const unsubscribe = followControllerEvents({ store, events, routes, lists, later, logger, now, refreshAlert });

  await resumeMessages(messages, store, chatIds, now(), held, (record) => (routes.remember(record), routes.targets(record).map((t) => t.chatId)));
  queue.kick();
  const sweep = startExpirySweep({ messages, answerWindowMs: config.answerWindow, everyMs: Math.max(100, Math.min(EXPIRY_SWEEP_MS, config.answerWindow)), logger, now, kick: () => queue.kick() });
  // No call may be made while the queue waits out a backoff: the clock decides too.
  const watchTimer = setInterval(() => watch.check(), Math.max(100, Math.min(10_000, Math.floor(config.failureAlertAfter / 4))));
  watchTimer.unref();

  // Token check, commands menu (in every language) and updates, each retried
  // with backoff: a refused token or an unreachable API is a state, never a stop.
  const started = token
    ? startBotRunner({
        bot,
        config,
        logger,
        now,
        tokenSource: config.token ? "telegram.token" : "TELEGRAM_BOT_TOKEN",
        async setCommands() {
          await bot.telegram.setMyCommands(commandList(config.defaultLocale));
          for (const locale of localeNames) if (locale !== config.defaultLocale) await bot.telegram.setMyCommands(commandList(locale), { language_code: locale });
        },
        onConnected: () => queue.kick(),
        ...(deps.voice?.consumeInbox ? { webhookServedElsewhere: true } : {}),
      })
    : noTokenRunner(now, logger);
  runner = started;
  deps.metrics?.watchTelegramConnection?.(() => started.connection());
  // Bounded: Telegram never holds up the controller's start for long.
  await Promise.race([started.firstAttempt, new Promise((resolve) => setTimeout(resolve, FIRST_ATTEMPT_WAIT_MS).unref())]);
  // Webhook mode on replicas: the updates every replica's webhook stored, handled here in order.
  const inbox = deps.voice?.consumeInbox && config.webhook ? await deps.voice.consumeInbox((update) => bot.handleUpdate(update as Update)) : undefined;
  logger.info({ chats: chatIds.length, allowedUsers: config.allowedUsers.length, mode: config.webhook ? "webhook" : "polling", ...(deps.voice ? { epoch: deps.voice.epoch } : {}) }, "telegram bridge started");

  return {
    probe: (input) => probeChats({ chatIds, config, now, sendOnce: (chatId, text, deadline) => queue.sendOnce(chatId, text, deadline) }, input),
    sendHealth: () => watch.health(),
    connection: () => started.connection(),
    queueDepth: () => queue.depth(),
    resume() {
      resumeMessages(messages, store, chatIds, now(), held, (record) => (routes.remember(record), routes.targets(record).map((t) => t.chatId))).then(
        () => queue.kick(),
        (err: unknown) => logger.error({ err: describeError(err) }, "telegram: could not look for stale messages"),
      );
    },
    warn: (text) => Promise.all(chatIds.map(async (chatId) => (await queue.sendOnce(chatId, escapeHtml(text), PROBE_WAIT_MS)).ok)),
    async stop() {
      unsubscribe();
      ownedLabels?.stop();
      silences?.stop();
      stopped = true;
      await bookkeeping.flush();
      clearInterval(sweep);
      clearInterval(watchTimer);
      callbacks.stop();
      await fleet?.stop();
      await inbox?.stop();
      await started.stop();
      await queue.stop();
    },
  };
}

/** A bridge started without the controller's labels (tests, tools) keeps its own. */
async function ownLabels(store: Store, events: EventBus): Promise<AgentLabels> {
  const labels = createAgentLabels(events);
  await labels.load(store);
  return labels;
}
