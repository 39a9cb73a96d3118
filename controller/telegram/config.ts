import { z } from "zod";
import { durationMs } from "../../common/config.js";
import { localeNames } from "./i18n/translations.js";
import { checkRoutes, routeSchema } from "./routes.js";

/** A Telegram chat or user id: a number, or a string of digits (possibly negative for groups). */
const telegramId = z.union([z.number().int(), z.string().regex(/^-?\d{1,20}$/)]).transform((value) => Number(value));

const locale = z.enum(localeNames);

/** One chat that receives alerts. */
export const telegramChatSchema = z.strictObject({
  /** The chat id (negative for groups). Only configured chats receive alerts. */
  id: telegramId,
  /** Language of this chat's messages. Default: the section's defaultLocale. */
  locale: locale.optional(),
});

/** Telegram's published limits; the defaults are what Telegram documents. */
export const telegramPaceSchema = z.strictObject({
  /** Least time between two messages to the same private chat. Default: "1s". */
  perChat: durationMs().default(1_000),
  /** Most messages per minute to one group (negative chat id). Default: 20. */
  perGroupPerMinute: z.number().int().min(1).default(20),
  /** Most messages per second across all chats. Default: 30. */
  globalPerSecond: z.number().int().min(1).default(30),
});

/** Receiving updates through a webhook instead of long polling (optional). */
export const telegramWebhookSchema = z.strictObject({
  /** Public https domain Telegram calls, e.g. "bot.example.org". */
  domain: z.string().min(1),
  /** Local address the webhook server listens on (a reverse proxy terminates TLS in front). Default: "127.0.0.1". */
  host: z.string().min(1).default("127.0.0.1"),
  /** Local port the webhook server listens on. Default: 8443. */
  port: z.number().int().min(0).max(65535).default(8443),
  /** Path of the webhook. Default: "/telegram". */
  path: z.string().startsWith("/").default("/telegram"),
  /** Secret Telegram echoes in a header so forged calls are refused. Never logged. */
  secretToken: z.string().min(1).optional(),
});

/** The `telegram` section of the controller config. */
export const telegramConfigSchema = z.strictObject({
  /** Bot token from BotFather; or set TELEGRAM_BOT_TOKEN. Never logged. Default: the environment variable. */
  token: z.string().min(1).optional(),
  /** Bot API root, e.g. a local fake Bot API "http://127.0.0.1:8081". Default: Telegram's own. */
  apiRoot: z.string().url().optional(),
  /** Chats that receive alerts. Default: none (the bot then only answers commands of allowed users). */
  chats: z.array(telegramChatSchema).default([]),
  /** Telegram user ids allowed to press buttons and run commands. Default: nobody. */
  allowedUsers: z.array(telegramId).default([]),
  /** Language of chats that do not set one. Default: "en". */
  defaultLocale: locale.default("en"),
  /** How long the confirming second tap of Reboot / Shut down is awaited. Default: "30s". */
  confirmTimeout: durationMs().default(30_000),
  /** How long Block IP blocks an address. Default: "24h". */
  defaultBlockDuration: durationMs().default(86_400_000),
  /** How long an unanswered open alert offers its answers. Default: "24h". */
  answerWindow: durationMs().default(86_400_000),
  /** Delay before Reboot / Shut down run on the host. Default: "5s". */
  powerDelay: durationMs().default(5_000),
  /** Sending pace; see Telegram's limits. Default: Telegram's documented limits. */
  pace: telegramPaceSchema.default({ perChat: 1_000, perGroupPerMinute: 20, globalPerSecond: 30 }),
  /**
   * When more new-alert messages than this wait for one chat, they are grouped
   * into one digest message instead of being sent one by one. Default: 5.
   */
  digestThreshold: z.number().int().min(1).default(5),
  /**
   * How long Bot API calls may keep failing, without one success, before the
   * controller says so (an error in its log, secarc_telegram_failing = 1,
   * a line in /status). Default: "5m".
   */
  failureAlertAfter: durationMs().refine((ms) => ms > 0, "must be above 0").default(300_000),
  /**
   * How long one Bot API call may take before it is given up (and retried,
   * for a send): a hanging Telegram never holds the queue. Default: sends and
   * edits "10s", answers to button taps "5s".
   */
  callTimeout: z
    .strictObject({
      /** sendMessage, editMessageText, editMessageReplyMarkup. Default: "10s". */
      send: durationMs().refine((ms) => ms > 0, "must be above 0").default(10_000),
      /** answerCallbackQuery (the popup after a tap). Default: "5s". */
      answer: durationMs().refine((ms) => ms > 0, "must be above 0").default(5_000),
    })
    .default({ send: 10_000, answer: 5_000 }),
  /** How many chats are sent to at once (one call at a time per chat), so one slow chat never holds the others. Default: 4. */
  concurrency: z.number().int().min(1).max(32).default(4),
  /**
   * When Telegram refuses a chat itself (bot blocked, removed from the group,
   * no rights), that chat's messages wait — kept, not dropped — and one is
   * tried again this often; an update from the chat (/start) resumes it at
   * once. Default: "10m".
   */
  parkedRetry: durationMs().refine((ms) => ms > 0, "must be above 0").default(600_000),
  /** Receive updates through a webhook instead of long polling. Default: long polling. */
  webhook: telegramWebhookSchema.optional(),
  /** Which chats (and forum topics) get which alerts, by labels, kind and severity (routes.ts). Default: none (every chat gets every alert). */
  routes: z.array(routeSchema).default([]),
}).superRefine(checkRoutes);

export type TelegramConfig = z.output<typeof telegramConfigSchema>;
export type TelegramChatConfig = z.output<typeof telegramChatSchema>;

/** The bot token: from the config, else from TELEGRAM_BOT_TOKEN; undefined when neither is set. */
export function resolveBotToken(config: TelegramConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return config.token ?? (env.TELEGRAM_BOT_TOKEN || undefined);
}
