import { Composer, type Context } from "telegraf";
import { chatTranslations } from "./alert-renderer.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import { clip, escapeHtml } from "./text-format.js";

/** A refused user (or an unconfigured chat) gets at most one reply and one audit entry per this window; the rest of a burst is counted. */
export const REFUSAL_WINDOW_MS = 60_000;
/** How many refused users/chats are remembered for that (the oldest is forgotten first). */
const MAX_TRACKED = 10_000;

/**
 * The gate in front of every feature. Chats are a boundary: in a chat that
 * is not configured nothing is answered, shown or carried out, whoever asks
 * (a tap there gets only a popup saying so). In a configured chat only
 * allow-listed Telegram user ids get past; anyone else pressing a button gets
 * an answered callback query saying no, anyone else sending a command a reply
 * saying no — through the send queue, at most one per user per minute — and
 * one audit entry per burst. Other updates from strangers are ignored.
 */
export function createAccessControl(services: BridgeServices): Composer<Context> {
  const allowed = new Set(services.config.allowedUsers);
  const configured = new Set(services.config.chats.map((chat) => chat.id));
  const bursts = new Map<string, { since: number; suppressed: number }>();
  const composer = new Composer<Context>();

  /** Whether this refusal starts a new burst (reply and audit); the others of a burst are only counted. */
  function startsBurst(key: string, what: () => string, actor: string, event: string): boolean {
    const at = services.now();
    const burst = bursts.get(key);
    if (burst && at - burst.since < REFUSAL_WINDOW_MS) {
      burst.suppressed++;
      return false;
    }
    const earlier = burst && burst.suppressed > 0 ? ` (${burst.suppressed} more refused in the previous burst)` : "";
    bursts.delete(key);
    bursts.set(key, { since: at, suppressed: 0 });
    if (bursts.size > MAX_TRACKED) bursts.delete(bursts.keys().next().value!);
    services.audit(actor, event, `${what()}${earlier}`);
    return true;
  }

  composer.use(async (ctx, next) => {
    const from = ctx.from;
    const query = ctx.callbackQuery;
    const chatId = ctx.chat?.id ?? query?.message?.chat.id;
    const t = chatTranslations(services.config, chatId ?? 0);
    const data = query && "data" in query ? query.data : "";
    const text = ctx.message && "text" in ctx.message ? ctx.message.text : undefined;
    const actor = telegramActor(from);
    // /start from a stranger in a configured chat: their user id and how an operator adds them (one per minute).
    // In a chat that is not configured nothing is answered; the refusal's audit entry names the user and the chat.
    const start = text !== undefined && /^\/start(@\w+)?(\s|$)/.test(text);
    if (start && from && chatId !== undefined && configured.has(chatId) && !allowed.has(from.id)) {
      if (startsBurst(`start:${from.id}`, () => `/start in chat ${chatId}`, actor, "telegram.start_stranger")) {
        services.logger.info({ userId: from.id, chatId }, "telegram: /start from a user or chat not configured; told their ids");
        services.reply(chatId, { text: escapeHtml(t.notice.startStranger({ userId: String(from.id), chatId: String(chatId) })) });
      }
      return;
    }
    if (chatId === undefined || !configured.has(chatId)) {
      if (!query && !text?.startsWith("/")) return;
      const what = () => `${query ? `button ${JSON.stringify(clip(data, 64))}` : `command ${JSON.stringify(clip(text ?? "", 64))}`} in chat ${chatId ?? "?"}, which is not configured`;
      if (startsBurst(`chat:${chatId}`, what, actor, "telegram.chat_refused")) {
        services.logger.warn({ userId: from?.id, chatId }, "telegram: update from a chat that is not configured refused; nothing is answered there");
      }
      if (query) services.answerCallback(query.id, t.notice.chatNotConfigured, { showAlert: true });
      return;
    }
    if (from && allowed.has(from.id)) return next();
    if (query) {
      if (startsBurst(`button:${from?.id}`, () => `button ${JSON.stringify(clip(data, 64))} in chat ${chatId}`, actor, "telegram.refused")) {
        services.logger.warn({ userId: from?.id, chatId }, "telegram: button press from a user not on the allow-list refused");
      }
      services.answerCallback(query.id, t.notice.notAllowed, { showAlert: true });
      return;
    }
    if (text?.startsWith("/")) {
      if (!startsBurst(`command:${from?.id}`, () => `command ${JSON.stringify(clip(text, 64))} in chat ${chatId}`, actor, "telegram.refused")) return;
      services.logger.warn({ userId: from?.id, chatId }, "telegram: command from a user not on the allow-list refused");
      services.reply(chatId, { text: escapeHtml(t.notice.notAllowed) });
    }
  });
  return composer;
}
