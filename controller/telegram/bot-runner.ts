import type { Telegraf } from "telegraf";
import type { Logger } from "../../common/log.js";
import type { TelegramConfig } from "./config.js";
import { describeSendError } from "./send-queue.js";
import { classifySendError, reconnectBackoffMs } from "./telegram-errors.js";

/** Where the bridge stands with the Bot API. */
export type TelegramConnectionState =
  /** Not yet known: the first getMe is on its way. */
  | "connecting"
  /** The token is accepted and updates are received. */
  | "ok"
  /** Telegram answered 401: nothing is sent until the token is fixed (config or environment file, then SIGHUP). */
  | "token_refused"
  /** No token in the config nor in the environment. */
  | "no_token"
  /** The Bot API cannot be reached, or answers with errors other than 401. */
  | "unreachable";

/** The bridge's link to the Bot API, for the log, /metrics and `secarc status`. */
export interface TelegramConnection {
  state: TelegramConnectionState;
  /** When the state began. */
  since: number;
  /** For operators, e.g. "telegram: token refused (401): check TELEGRAM_BOT_TOKEN"; empty when ok. */
  detail: string;
  /** When the next attempt is due while not ok. */
  retryAt: number | undefined;
  /** Failed attempts in a row. */
  attempts: number;
  /** Whether the commands menu (setMyCommands) is set. */
  commandsSet: boolean;
}

export interface BotRunnerOptions {
  bot: Telegraf;
  config: TelegramConfig;
  logger: Logger;
  now: () => number;
  /** Where the token came from, named in the refusal: "TELEGRAM_BOT_TOKEN" or "telegram.token". */
  tokenSource: string;
  /** Sets the commands menu; retried with backoff until it succeeds. */
  setCommands: () => Promise<void>;
  /** Called each time the token is accepted after not being (start, or after a refusal). */
  onConnected: () => void;
  /** Webhook mode on replicas: the webhook is served elsewhere (every replica's inbox); the runner only registers it with Telegram. */
  webhookServedElsewhere?: boolean;
}

export interface BotRunner {
  /** Resolves once the first attempt has succeeded (updates flow) or failed: start-up waits for it, bounded. */
  readonly firstAttempt: Promise<void>;
  connection(): TelegramConnection;
  /** Another Bot API call got 401: the token is refused; the runner checks it again with backoff. */
  refused(err: unknown): void;
  /** Stops receiving updates and waits for the update in hand. */
  stop(): Promise<void>;
}

/** The line operators see when Telegram refuses the token. */
export function tokenRefusedDetail(tokenSource: string): string {
  return `telegram: token refused (401): check ${tokenSource}`;
}

/**
 * Keeps the bot connected to the Bot API, and never gives up nor throws: the
 * token is checked (getMe), the commands menu set, and updates received by
 * long polling or a webhook; each step that fails is tried again with
 * exponential backoff (1 s doubling, at most 5 min). A refused token, an
 * unreachable API or a 401 later is a state (`connection()`), logged once
 * per change, so that Telegram trouble never stops the controller.
 */
export function startBotRunner(options: BotRunnerOptions): BotRunner {
  const { bot, config, logger, now } = options;
  const webhook = config.webhook;
  let state: TelegramConnection = { state: "connecting", since: now(), detail: "", retryAt: undefined, attempts: 0, commandsSet: false };
  let stopping = false;
  let wake: (() => void) | undefined;
  let refusedWhileHooked: (() => void) | undefined;
  let attempted: () => void = () => {};
  const firstAttempt = new Promise<void>((resolve) => (attempted = resolve));

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  function markOk(): void {
    const was = state.state;
    state = { ...state, state: "ok", since: was === "ok" ? state.since : now(), detail: "", retryAt: undefined, attempts: 0 };
    if (was === "ok") return;
    logger.info({ bot: bot.botInfo?.username, was }, "telegram: the Bot API accepts the token");
    if (!webhook) attempted();
    options.onConnected();
    if (!state.commandsSet) void setCommandsLoop();
  }

  /** Records a failed attempt; `retryInMs` when a retry is scheduled. */
  function fail(err: unknown, retryInMs: number | undefined): void {
    const refused = classifySendError(err).type === "unauthorized";
    const next: TelegramConnection["state"] = refused ? "token_refused" : "unreachable";
    const detail = refused ? tokenRefusedDetail(options.tokenSource) : `telegram: ${describeSendError(err)}`;
    const changed = next !== state.state || detail !== state.detail;
    state = { ...state, state: next, since: changed ? now() : state.since, detail, attempts: state.attempts + 1, retryAt: retryInMs === undefined ? undefined : now() + retryInMs };
    const fields = { state: next, attempts: state.attempts, retryInMs };
    attempted();
    if (changed) logger.error(fields, detail);
    else logger.warn(fields, `${detail} (attempt ${state.attempts}; next in ${Math.round((retryInMs ?? 0) / 1000)} s)`);
  }

  async function setCommandsLoop(): Promise<void> {
    for (let attempt = 0; !stopping && state.state === "ok" && !state.commandsSet; attempt++) {
      try {
        await options.setCommands();
        state = { ...state, commandsSet: true };
        return;
      } catch (err) {
        if (classifySendError(err).type === "unauthorized") return runner.refused(err);
        const delay = reconnectBackoffMs(attempt);
        logger.warn({ err: describeSendError(err), attempt: attempt + 1, retryInMs: delay }, "telegram: setMyCommands failed; retrying");
        await sleepApart(delay);
      }
    }
  }
  /** A sleep of its own (the main loop's `wake` stays with the main loop). */
  const sleepApart = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

  /** The launch in progress (polling), so that a stop can wait until it has really ended. */
  let receiving: Promise<unknown> | undefined;
  async function receive(): Promise<void> {
    if (!webhook) {
      // Resolves when polling stops; throws when getUpdates fails for good (e.g. 401).
      receiving = bot.launch({ dropPendingUpdates: false });
      try {
        await receiving;
      } finally {
        receiving = undefined;
      }
      return;
    }
    if (options.webhookServedElsewhere) await bot.telegram.setWebhook(webhookUrl(webhook), { ...(webhook.secretToken ? { secret_token: webhook.secretToken } : {}) });
    else await bot.launch({ webhook: { domain: webhook.domain, host: webhook.host, port: webhook.port, path: webhook.path, ...(webhook.secretToken ? { secretToken: webhook.secretToken } : {}) } });
    markOk();
    attempted();
    // The webhook server runs until the controller stops or a call finds the token refused.
    await new Promise<void>((resolve) => (refusedWhileHooked = resolve));
    refusedWhileHooked = undefined;
  }

  const loop = (async () => {
    while (!stopping) {
      try {
        if (state.state !== "ok") {
          bot.botInfo = await bot.telegram.getMe();
          if (stopping) return;
          markOk();
        }
        if (stopping) return;
        await receive();
        if (stopping) return;
        if (state.state === "ok") logger.warn("telegram: receiving updates ended; restarting");
      } catch (err) {
        if (stopping) return;
        fail(err, reconnectBackoffMs(state.attempts));
      }
      stopReceiving();
      if (stopping) return;
      await sleep(state.state === "ok" ? reconnectBackoffMs(0) : (state.retryAt ?? now()) - now());
    }
  })();

  function stopReceiving(): void {
    try {
      bot.stop("controller stopping");
    } catch {
      // Not receiving right now (between attempts).
    }
  }

  /**
   * Stops polling for certain: a stop that lands while launch awaits
   * deleteWebhook finds no poller yet, so it is repeated until the launch
   * has returned (bounded: 200 × 50 ms).
   */
  async function haltReceiving(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      stopReceiving();
      const current = receiving;
      if (!current) return;
      const ended = await Promise.race([current.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50))]);
      if (ended) return;
    }
  }

  const runner: BotRunner = {
    firstAttempt,
    connection: () => ({ ...state }),
    refused(err) {
      if (stopping || state.state === "token_refused") return;
      fail(err, reconnectBackoffMs(state.attempts));
      state = { ...state, commandsSet: false };
      // Receiving ends, so that the loop checks the token (getMe) with backoff.
      refusedWhileHooked?.();
      void haltReceiving();
    },
    async stop() {
      stopping = true;
      wake?.();
      refusedWhileHooked?.();
      await haltReceiving();
      await loop;
    },
  };
  return runner;
}

/** The URL Telegram posts to, as telegraf builds it from telegram.webhook: https, the domain without any scheme, the path. */
export function webhookUrl(webhook: NonNullable<TelegramConfig["webhook"]>): string {
  const domain = /^https?:\/\//.test(webhook.domain) ? new URL(webhook.domain).host : webhook.domain;
  return `https://${domain}${webhook.path}`;
}

/** A runner for a bridge without a token: nothing to try until the config changes. */
export function noTokenRunner(now: () => number, logger: Logger): BotRunner {
  const detail = "telegram: no bot token: set TELEGRAM_BOT_TOKEN or telegram.token";
  logger.error({ state: "no_token" }, detail);
  const state: TelegramConnection = { state: "no_token", since: now(), detail, retryAt: undefined, attempts: 0, commandsSet: false };
  return { firstAttempt: Promise.resolve(), connection: () => ({ ...state }), refused() {}, stop: async () => {} };
}
