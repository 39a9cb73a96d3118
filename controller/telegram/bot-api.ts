import type { Telegraf } from "telegraf";
import type { Logger } from "../../common/log.js";
import type { InlineKeyboard } from "./alert-message.js";
import { withDeadline } from "./call-deadline.js";
import type { TelegramConfig } from "./config.js";
import { describeSendError, type BotApi, type SendQueue } from "./send-queue.js";
import { popupText, safeText } from "./safe-text.js";
import { classifySendError } from "./telegram-errors.js";
import { fitMessage } from "./text-format.js";

/** The Bot API calls the bridge makes, each with its deadline (config.callTimeout). */
export interface BridgeBotApi extends BotApi {
  /**
   * Answers a callback query (the popup after a tap) without holding the
   * update handling: the call runs on its own, within its deadline, and a
   * failure is logged.
   */
  answerCallback(queryId: string, text?: string, options?: { showAlert?: boolean }): void;
  /** Replaces a message's buttons (the confirmation row), within the send deadline. */
  editButtons(chatId: number, messageId: number, keyboard: InlineKeyboard): Promise<void>;
}

/**
 * The bridge's Bot API calls through telegraf, HTML with link previews off,
 * each aborted at its deadline (`telegram.callTimeout`: a hanging Telegram
 * never holds the queue or the update handling). A call Telegram answers
 * with 401 also tells `onRefused` (the bot runner pauses the queue and checks
 * the token with backoff); the error is thrown on either way, for the
 * queue's one retry stage. While `refused()` holds, sends fail here without
 * reaching Telegram: only the runner's token check asks it.
 */
export function createTelegrafBotApi(bot: Telegraf, config: TelegramConfig, logger: Logger, refused: () => boolean, onRefused: (err: unknown) => void): BridgeBotApi {
  const telegram = bot.telegram;
  const send = config.callTimeout.send;
  const notice = (err: unknown): never => {
    if (classifySendError(err).type === "unauthorized") onRefused(err);
    throw err;
  };
  const holdWhileRefused = () => {
    if (refused()) throw Object.assign(new Error("not sent: Telegram refuses the bot token"), { response: { error_code: 401, description: "Unauthorized (not sent: the token is refused)" } });
  };
  return {
    async sendMessage(chatId, text, keyboard, threadId) {
      holdWhileRefused();
      const payload = {
        chat_id: chatId,
        ...(threadId !== undefined ? { message_thread_id: threadId } : {}),
        text: outgoing(text),
        parse_mode: "HTML" as const,
        link_preview_options: { is_disabled: true },
        ...(keyboard.length > 0 ? { reply_markup: { inline_keyboard: keyboard } } : {}),
      };
      const sent = await withDeadline(send, "sendMessage", (signal) => telegram.callApi("sendMessage", payload, { signal: signal as never })).catch(notice);
      return { messageId: sent.message_id };
    },
    async editMessage(chatId, messageId, text, keyboard) {
      holdWhileRefused();
      const payload = { chat_id: chatId, message_id: messageId, text: outgoing(text), parse_mode: "HTML" as const, link_preview_options: { is_disabled: true }, reply_markup: { inline_keyboard: keyboard } };
      await withDeadline(send, "editMessageText", (signal) => telegram.callApi("editMessageText", payload, { signal: signal as never })).catch(notice);
    },
    async editButtons(chatId, messageId, keyboard) {
      const payload = { chat_id: chatId, message_id: messageId, reply_markup: { inline_keyboard: keyboard } };
      await withDeadline(send, "editMessageReplyMarkup", (signal) => telegram.callApi("editMessageReplyMarkup", payload, { signal: signal as never })).catch(notice);
    },
    answerCallback(queryId, text, options = {}) {
      const payload = { callback_query_id: queryId, ...(text !== undefined ? { text: popupText(text) } : {}), ...(options.showAlert ? { show_alert: true } : {}) };
      void withDeadline(config.callTimeout.answer, "answerCallbackQuery", (signal) => telegram.callApi("answerCallbackQuery", payload, { signal: signal as never })).catch((err: unknown) => {
        logger.warn({ reason: describeSendError(err) }, "telegram: a tap's answer (popup) was not delivered");
      });
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
