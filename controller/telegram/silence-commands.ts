import { Composer, type Context } from "telegraf";
import { describeError } from "../../common/errors.js";
import { compactId, expandId } from "./callback-data.js";
import type { SilenceWatch } from "../domain/silence-watch.js";
import { describeMatcher, parseSilenceArgs, silenceEnd, type Silence } from "../domain/silences.js";
import type { InlineButton } from "./alert-message.js";
import { chatTranslations } from "./alert-renderer.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import type { Translations } from "./i18n/translations.js";
import { safeText } from "./safe-text.js";
import { escapeHtml, formatTime, humanDuration, splitMessage } from "./text-format.js";

/**
 * Unsilence buttons: "1|s|<compact uuid>" for a /silence, "1|w|<window>|<start, base 36>"
 * for a run of a maintenance window. Codes "s" and "w" are not used by callback-data.ts.
 */
const UNSILENCE = "1|s|";
const UNSILENCE_WINDOW = "1|w|";
const WINDOW_ID = /^window:([A-Za-z0-9_.-]{1,40}):(\d{1,15})$/;

/** Callback data of a silence's Unsilence button; undefined when it cannot be made. */
export function encodeUnsilence(silenceId: string): string | undefined {
  const window = WINDOW_ID.exec(silenceId);
  if (window) return `${UNSILENCE_WINDOW}${window[1]}|${Number(window[2]).toString(36)}`;
  const id = compactId(silenceId);
  return id === undefined ? undefined : `${UNSILENCE}${id}`;
}

/** The silence id an Unsilence button names; undefined for anything else (untrusted input). */
export function decodeUnsilence(data: unknown): string | undefined {
  if (typeof data !== "string" || data.length > 64) return undefined;
  if (data.startsWith(UNSILENCE)) return expandId(data.slice(UNSILENCE.length));
  if (!data.startsWith(UNSILENCE_WINDOW)) return undefined;
  const match = /^([A-Za-z0-9_.-]{1,40})\|([0-9a-z]{1,10})$/.exec(data.slice(UNSILENCE_WINDOW.length));
  return match ? `window:${match[1]}:${parseInt(match[2]!, 36)}` : undefined;
}

/** What a silence covers and who made it, as HTML parameters of the texts. */
export function describeSilence(silence: Silence, t: Translations): { what: string; by: string } {
  const what = `<code>${escapeHtml(safeText(describeMatcher(silence.matcher), { max: 200 }))}</code>`;
  const window = /^window:(.+)$/.exec(silence.createdBy);
  return { what, by: window ? escapeHtml(t.silence.windowBy({ name: window[1]! })) : escapeHtml(safeText(silence.createdBy, { max: 100 })) };
}

/** /silences: the silences in force with an Unsilence button each. */
export function renderSilences(silences: readonly Silence[], t: Translations, now: number): { text: string; keyboard: InlineButton[][] } {
  if (silences.length === 0) return { text: t.silence.none, keyboard: [] };
  const lines = [t.silence.header({ count: String(silences.length) })];
  const keyboard: InlineButton[][] = [];
  for (const silence of silences) {
    const end = silenceEnd(silence);
    lines.push(t.silence.line({ ...describeSilence(silence, t), until: formatTime(end), left: humanDuration(Math.max(0, end - now), t) }));
    const data = encodeUnsilence(silence.silenceId);
    if (data) keyboard.push([{ text: t.silence.unsilenceButton({ what: safeText(describeMatcher(silence.matcher), { max: 40 }) }), callback_data: data }]);
  }
  return { text: lines.join("\n"), keyboard };
}

/**
 * /silence TARGET DURATION [KIND ...], /silences and the Unsilence buttons.
 * Installed before the alert callbacks: it takes only its own buttons.
 */
export function createSilenceCommands(services: BridgeServices, watch: SilenceWatch): Composer<Context> {
  const { config, now } = services;
  const composer = new Composer<Context>();

  composer.command("silence", async (ctx) => {
    const t = chatTranslations(config, ctx.chat.id);
    const args = parseSilenceArgs(ctx.message.text.replace(/^\/\S*/, ""));
    if (!args.ok) {
      const problem = t.silence.problem[args.problem];
      const why = typeof problem === "function" ? problem({ token: escapeHtml(safeText(args.token ?? "", { max: 60 })) }) : problem;
      services.reply(ctx.chat.id, { text: `${escapeHtml(why)}\n${escapeHtml(t.silence.usage)}` });
      return;
    }
    try {
      const silence = await watch.add({ matcher: args.matcher, durationMs: args.durationMs, createdBy: telegramActor(ctx.from) });
      services.audit(telegramActor(ctx.from), "telegram.silence", `${describeMatcher(silence.matcher)} until ${new Date(silence.endsAt).toISOString()} (${silence.silenceId})`);
      const text = t.silence.created({ what: describeSilence(silence, t).what, until: formatTime(silence.endsAt), left: humanDuration(args.durationMs, t) });
      services.reply(ctx.chat.id, { text });
    } catch (err) {
      services.logger.error({ err: describeError(err) }, "telegram: a silence could not be stored");
      services.reply(ctx.chat.id, { text: escapeHtml(t.silence.failed) });
    }
  });

  composer.command("silences", (ctx) => {
    const t = chatTranslations(config, ctx.chat.id);
    const page = renderSilences(watch.active(), t, now());
    const parts = splitMessage(page.text, t.truncated);
    parts.forEach((text, index) => services.reply(ctx.chat.id, index === parts.length - 1 ? { text, keyboard: page.keyboard } : { text }));
  });

  composer.on("callback_query", async (ctx, next) => {
    const query = ctx.callbackQuery;
    const data = "data" in query ? query.data : undefined;
    if (typeof data !== "string" || !(data.startsWith(UNSILENCE) || data.startsWith(UNSILENCE_WINDOW))) return next();
    const chatId = ctx.chat?.id ?? query.message?.chat.id ?? 0;
    const t = chatTranslations(config, chatId);
    const silenceId = decodeUnsilence(data);
    if (silenceId === undefined) {
      services.audit(telegramActor(query.from), "telegram.callback_invalid", `chat ${chatId}`);
      services.answerCallback(query.id, t.notice.invalidButton, { showAlert: true });
      return;
    }
    try {
      const ended = await watch.end(silenceId);
      if (ended) services.audit(telegramActor(query.from), "telegram.unsilence", `${describeMatcher(ended.matcher)} (${silenceId})`);
      services.answerCallback(query.id, ended ? t.silence.unsilenced : t.silence.notInForce);
    } catch (err) {
      services.logger.error({ err: describeError(err), silenceId }, "telegram: a silence could not be ended");
      services.answerCallback(query.id, t.silence.failed, { showAlert: true });
    }
  });

  return composer;
}
