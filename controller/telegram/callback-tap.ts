import { create } from "@bufbuild/protobuf";
import { Composer, type Context } from "telegraf";
import { describeError } from "../../common/errors.js";
import { OperatorSchema, type Answer, type Operator } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRequestOutcome } from "../domain/action-requests.js";
import { answerLabel } from "./alert-labels.js";
import type { InlineKeyboard } from "./alert-message.js";
import { chatTranslations } from "./alert-renderer.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import { decodeCallback, type CallbackCommand } from "./callback-data.js";
import type { Translations } from "./i18n/translations.js";
import type { ListTap } from "./list-results.js";
import { safeHtml } from "./safe-text.js";
import { operatorName } from "./text-format.js";

/** Who tapped a button, where, and in which language to answer. */
export interface Tap {
  chatId: number;
  messageId: number | undefined;
  from: { id: number; username?: string; first_name: string; last_name?: string };
  t: Translations;
  /** Set when the button was in a list message (/blocks, /allows): it follows the action there. */
  list: ListTap | undefined;
  /** Replaces the tapped message's buttons (not awaited: a slow Telegram must not hold the update handling). */
  showButtons(keyboard: InlineKeyboard): void;
}

/** What a feature says back to a tap (the callback query's notice); undefined: nothing but the answer itself. */
export type TapNotice = string | undefined;

type CommandOf<T extends CallbackCommand["type"]> = Extract<CallbackCommand, { type: T }>;

interface TapState {
  command?: CallbackCommand;
  tap?: Tap;
}

/**
 * The first step for every button press: the callback data (untrusted) is
 * decoded into a command or refused (audited, answered with "invalid
 * button"); a decoded one goes on to the features with its Tap.
 */
export function createTapDecoder(services: BridgeServices): Composer<Context> {
  const composer = new Composer<Context>();
  composer.on("callback_query", (ctx, next) => {
    const query = ctx.callbackQuery;
    const chatId = ctx.chat?.id ?? query.message?.chat.id ?? 0;
    const messageId = query.message?.message_id;
    const t = chatTranslations(services.config, chatId);
    const command = decodeCallback("data" in query ? query.data : undefined);
    if (!command) {
      services.audit(telegramActor(query.from), "telegram.callback_invalid", `chat ${chatId}`);
      services.answerCallback(query.id, t.notice.invalidButton, { showAlert: true });
      return;
    }
    const showButtons = (keyboard: InlineKeyboard) => {
      if (messageId === undefined) return;
      void services.editButtons(chatId, messageId, keyboard).catch((err: unknown) => {
        services.logger.warn({ err: describeError(err) }, "telegram: could not show the confirmation buttons");
      });
    };
    const state = ctx.state as TapState;
    state.command = command;
    state.tap = { chatId, messageId, from: query.from, t, list: listTapOf(query), showButtons };
    return next();
  });
  return composer;
}

/**
 * A feature's handler for some command types: it runs for a decoded tap of
 * one of them, and its notice answers the callback query (every query is
 * answered exactly once); other taps go on to the next feature.
 */
export function onTap<T extends CallbackCommand["type"]>(services: BridgeServices, types: readonly T[], handle: (command: CommandOf<T>, tap: Tap) => TapNotice | Promise<TapNotice>): Composer<Context> {
  const composer = new Composer<Context>();
  composer.on("callback_query", async (ctx, next) => {
    const { command, tap } = ctx.state as TapState;
    if (!command || !tap || !(types as readonly string[]).includes(command.type)) return next();
    services.answerCallback(ctx.callbackQuery.id, await handle(command as CommandOf<T>, tap));
  });
  return composer;
}

/**
 * Where an Unblock (/blocks) or Revoke (/allows) button was tapped: the
 * list message then follows the action to its end (list-results.ts).
 */
function listTapOf(query: NonNullable<Context["callbackQuery"]>): ListTap | undefined {
  const message = query.message;
  if (!message || !("text" in message) || typeof message.text !== "string" || !("data" in query)) return undefined;
  const keyboard = (message.reply_markup?.inline_keyboard ?? []).map((row) =>
    row.flatMap((button) => ("callback_data" in button && typeof button.callback_data === "string" ? [{ text: button.text, callback_data: button.callback_data }] : [])),
  );
  return { chatId: message.chat.id, messageId: message.message_id, tapped: query.data, baseHtml: safeHtml(message.text, { keepNewlines: true }), keyboard };
}

/** The Operator of a tap, as agents see it in ResponseAction.requested_by. */
export function operatorOf(from: Tap["from"]): Operator {
  return create(OperatorSchema, {
    telegramUserId: BigInt(from.id),
    username: from.username ?? "",
    displayName: [from.first_name, from.last_name].filter(Boolean).join(" "),
  });
}

/** The notice for an action request's outcome: sent, queued, or why not. */
export function noticeFor(outcome: ActionRequestOutcome, chosen: Answer, agentId: string, t: Translations): string {
  const label = answerLabel(chosen, t);
  if (outcome.ok) return outcome.connected ? t.notice.sent({ answer: label, server: agentId }) : t.notice.queued({ answer: label, server: agentId });
  switch (outcome.reason) {
    case "already_answered":
      return outcome.existing
        ? t.notice.alreadyAnswered({ answer: answerLabel(outcome.existing.answer, t), by: operatorName(outcome.existing.operator) })
        : t.notice.alreadyAnswered({ answer: "?", by: "?" });
    case "resolved":
      return t.notice.resolved;
    case "unsupported":
      return t.notice.unsupported;
    case "unknown_alert":
    case "unknown_agent":
      return t.notice.unknownAlert;
  }
}
