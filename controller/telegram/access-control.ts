import { Composer, type Context } from "telegraf";
import { chatTranslations } from "./alert-renderer.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import { clip } from "./text-format.js";

/**
 * The gate in front of every feature: only allow-listed Telegram user ids get
 * past. Anyone else pressing a button gets an answered callback query saying
 * no, anyone else sending a command gets a reply saying no, and both are
 * audited. Other updates from strangers are ignored.
 */
export function createAccessControl(services: BridgeServices): Composer<Context> {
  const allowed = new Set(services.config.allowedUsers);
  const composer = new Composer<Context>();
  composer.use(async (ctx, next) => {
    const from = ctx.from;
    if (from && allowed.has(from.id)) return next();
    const chatId = ctx.chat?.id ?? 0;
    const t = chatTranslations(services.config, chatId);
    if (ctx.callbackQuery) {
      const data = "data" in ctx.callbackQuery ? ctx.callbackQuery.data : "";
      services.audit(telegramActor(from), "telegram.refused", `button ${JSON.stringify(clip(data, 64))} in chat ${chatId}`);
      services.logger.warn({ userId: from?.id, chatId }, "telegram: button press from a user not on the allow-list refused");
      await ctx.answerCbQuery(t.notice.notAllowed, { show_alert: true });
      return;
    }
    const text = ctx.message && "text" in ctx.message ? ctx.message.text : undefined;
    if (text?.startsWith("/")) {
      services.audit(telegramActor(from), "telegram.refused", `command ${JSON.stringify(clip(text, 64))} in chat ${chatId}`);
      services.logger.warn({ userId: from?.id, chatId }, "telegram: command from a user not on the allow-list refused");
      await ctx.reply(t.notice.notAllowed);
    }
  });
  return composer;
}
