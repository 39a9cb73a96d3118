import { Composer, type Context } from "telegraf";
import { activeAllows, type ActiveAllow } from "./active-allows.js";
import type { InlineButton, InlineKeyboard } from "./alert-message.js";
import { chatTranslations } from "./alert-renderer.js";
import type { BridgeServices } from "./bridge-services.js";
import { encodeCallback } from "./callback-data.js";
import type { Translations } from "./i18n/translations.js";
import { safeText } from "./safe-text.js";
import { escapeHtml, formatTime, humanDuration, operatorName } from "./text-format.js";

/** Allows shown per /allows message, each with a Revoke button. */
export const ALLOWS_PAGE_SIZE = 20;

/**
 * /allows: the addresses operators allowed (ALLOW with 1 h / 24 h /
 * always), per server, with the time left and who allowed them, and one
 * Revoke button each (REVOKE_ALLOW to that server). Derived from done
 * actions, like /blocks.
 */
export function createAllowsCommand(services: BridgeServices): Composer<Context> {
  const composer = new Composer<Context>();
  composer.command("allows", async (ctx) => {
    const t = chatTranslations(services.config, ctx.chat.id);
    const rows = (await services.messages.listTrackedBlocks()).filter((row) => services.routes?.coversAgent(ctx.chat.id, row.agentId) ?? true);
    const tracked = (await Promise.all(rows.map((row) => services.store.getAction(row.actionId)))).filter((action) => action !== undefined);
    for (const page of renderAllows(activeAllows(tracked, services.now()), t, services.now())) services.reply(ctx.chat.id, page);
  });
  return composer;
}

/** The /allows messages (HTML) with their Revoke buttons; one message saying there are none when empty. */
export function renderAllows(allows: readonly ActiveAllow[], t: Translations, now: number): Array<{ text: string; keyboard: InlineKeyboard }> {
  if (allows.length === 0) return [{ text: t.command.noAllows, keyboard: [] }];
  const pages: Array<{ text: string; keyboard: InlineKeyboard }> = [];
  for (let i = 0; i < allows.length; i += ALLOWS_PAGE_SIZE) {
    const lines = i === 0 ? [t.command.allowsHeader({ count: String(allows.length) })] : [];
    const keyboard: InlineButton[][] = [];
    let server: string | undefined;
    for (const allow of allows.slice(i, i + ALLOWS_PAGE_SIZE)) {
      if (allow.agentId !== server) {
        server = allow.agentId;
        lines.push(`<b>${escapeHtml(server)}</b>`);
      }
      const ip = `<code>${escapeHtml(allow.ip)}</code>`;
      const by = escapeHtml(operatorName(allow.action.operator));
      const line = allow.expiresAt
        ? t.command.allowLine({ ip, left: humanDuration(Math.max(0, allow.expiresAt.getTime() - now), t), until: formatTime(allow.expiresAt.getTime()), by })
        : t.command.allowUntilRevoked({ ip, by });
      lines.push(`✅ ${line}`);
      const data = encodeCallback({ type: "revoke", actionId: allow.action.actionId });
      if (data) keyboard.push([{ text: t.command.revokeButton({ ip: safeText(allow.ip, { max: 45 }), server: safeText(allow.agentId, { max: 40 }) }), callback_data: data }]);
    }
    pages.push({ text: lines.join("\n"), keyboard });
  }
  return pages;
}
