import type { Telegraf } from "telegraf";
import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { TelegramConfig } from "./config.js";
import { backoffMs, classifySendError } from "./telegram-errors.js";

export interface BotRunner {
  /** Stops receiving updates and waits for the update in hand. */
  stop(): Promise<void>;
}

/**
 * Receives updates: long polling (supervised: restarted with backoff when it
 * fails, e.g. while Telegram is unreachable) or a webhook. Resolves once
 * updates flow, or — for a retryable failure — once the first attempt
 * failed, so that a Telegram outage never stops the controller; rejects only
 * when retrying cannot help (a wrong token).
 */
export async function runBot(bot: Telegraf, config: TelegramConfig, logger: Logger): Promise<BotRunner> {
  const webhook = config.webhook;
  if (webhook) {
    await bot.launch({ webhook: { domain: webhook.domain, host: webhook.host, port: webhook.port, path: webhook.path, ...(webhook.secretToken ? { secretToken: webhook.secretToken } : {}) } });
    return { stop: async () => bot.stop("controller stopping") };
  }
  let stopping = false;
  let wake: (() => void) | undefined;
  let started = false;
  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const loop = (async () => {
    let attempt = 0;
    while (!stopping) {
      try {
        await bot.launch({ dropPendingUpdates: false }, () => {
          attempt = 0;
          started = true;
          settle?.resolve();
        });
        if (stopping) return;
        logger.warn("telegram: polling ended; restarting");
      } catch (err) {
        if (stopping) return;
        const failure = classifySendError(err);
        if (failure.type === "permanent" && !started) {
          settle?.reject(new SecarcError("telegram", `telegram: the Bot API refused the bot: ${describeError(err)}`, { cause: err }));
          return;
        }
        logger.error({ err: describeError(err), attempt: attempt + 1 }, "telegram: receiving updates failed; retrying");
        settle?.resolve();
      }
      const delay = backoffMs(attempt++);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  await ready;
  return {
    async stop() {
      stopping = true;
      wake?.();
      try {
        bot.stop("controller stopping");
      } catch {
        // Not polling right now (between attempts).
      }
      await loop;
    },
  };
}
