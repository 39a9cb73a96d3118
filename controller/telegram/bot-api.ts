import type { Telegraf } from "telegraf";
import type { BotApi, SendQueue } from "./send-queue.js";
import { safeText } from "./safe-text.js";
import { classifySendError } from "./telegram-errors.js";
import { fitMessage } from "./text-format.js";

/**
 * The send queue's two Bot API calls through telegraf, HTML with link
 * previews off. A call Telegram answers with 401 also tells `onRefused`
 * (the bot runner pauses the queue and checks the token with backoff); the
 * error is thrown on either way, for the queue's one retry stage. While
 * `refused()` holds, calls fail here without reaching Telegram: only the
 * runner's token check asks it.
 */
export function createTelegrafBotApi(bot: Telegraf, refused: () => boolean, onRefused: (err: unknown) => void): BotApi {
  const notice = (err: unknown): never => {
    if (classifySendError(err).type === "unauthorized") onRefused(err);
    throw err;
  };
  const holdWhileRefused = () => {
    if (refused()) throw Object.assign(new Error("not sent: Telegram refuses the bot token"), { response: { error_code: 401, description: "Unauthorized (not sent: the token is refused)" } });
  };
  return {
    async sendMessage(chatId, text, keyboard) {
      holdWhileRefused();
      const sent = await bot.telegram
        .sendMessage(chatId, outgoing(text), {
          parse_mode: "HTML",
          link_preview_options: { is_disabled: true },
          ...(keyboard.length > 0 ? { reply_markup: { inline_keyboard: keyboard } } : {}),
        })
        .catch(notice);
      return { messageId: sent.message_id };
    },
    async editMessage(chatId, messageId, text, keyboard) {
      holdWhileRefused();
      await bot.telegram
        .editMessageText(chatId, messageId, undefined, outgoing(text), {
          parse_mode: "HTML",
          link_preview_options: { is_disabled: true },
          reply_markup: { inline_keyboard: keyboard },
        })
        .catch(notice);
    },
  };
}
/** The queue, whose kicks wait while `open()` is false (the token is refused or not yet checked); jobs stay stored. */
export function pausedUnless(open: () => boolean, queue: SendQueue): SendQueue {
  return { ...queue, kick: () => (open() ? queue.kick() : undefined) };
}

/**
 * The last guard before Telegram, behind the renderers' own care: valid text
 * without control or bidi characters, within 4096 characters (cut between
 * lines, with a marker). A renderer's output never relies on it.
 */
function outgoing(html: string): string {
  return fitMessage(safeText(html, { keepNewlines: true }), "…");
}
