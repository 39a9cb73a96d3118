import { create } from "@bufbuild/protobuf";
import { Composer, type Context } from "telegraf";
import { ActionTargetSchema, Answer, OperatorSchema, type Operator } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRequestOutcome } from "../domain/action-requests.js";
import { allowKeyboard, confirmKeyboard, answerLabel } from "./alert-message.js";
import type { ListTap } from "./list-results.js";
import { chatTranslations } from "./alert-renderer.js";
import { answerOptions } from "../domain/answers.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import { ALLOW_DURATION_MS, decodeCallback, needsConfirmation, type CallbackCommand } from "./callback-data.js";
import type { Translations } from "./i18n/translations.js";
import { Priority } from "./message-store.js";
import { describeError } from "../../common/errors.js";
import { operatorName } from "./text-format.js";
import { safeHtml } from "./safe-text.js";

export interface AlertCallbacks {
  composer: Composer<Context>;
  /** Clears pending confirmations and their timers. */
  stop(): void;
}

interface PendingConfirmation {
  expiresAt: number;
  timer: NodeJS.Timeout;
}

type Tap = { chatId: number; messageId: number | undefined; from: { id: number; username?: string; first_name: string; last_name?: string }; t: Translations; list: ListTap | undefined };

/**
 * Button presses: decode the callback data (untrusted) or refuse it; answers
 * go to ActionRequests (stored first, sent or queued); Reboot / Shut down
 * need a confirming second tap within confirmTimeout; Allow asks for how
 * long (1 h / 24 h / always) in the same way. Every callback query
 * is answered, and the message itself is updated by the send queue.
 */
export function createAlertCallbacks(services: BridgeServices, showAlerts: (chatId: number, offset: number) => boolean): AlertCallbacks {
  const { config, store, now } = services;
  const pending = new Map<string, PendingConfirmation>();
  const composer = new Composer<Context>();

  composer.on("callback_query", (ctx) => {
    const query = ctx.callbackQuery;
    const chatId = ctx.chat?.id ?? query.message?.chat.id ?? 0;
    const tap: Tap = { chatId, messageId: query.message?.message_id, from: query.from, t: chatTranslations(config, chatId), list: listTapOf(query) };
    const command = decodeCallback("data" in query ? query.data : undefined);
    if (!command) {
      services.audit(telegramActor(query.from), "telegram.callback_invalid", `chat ${chatId}`);
      services.answerCallback(query.id, tap.t.notice.invalidButton, { showAlert: true });
      return;
    }
    const notice = handle(command, tap, (markup) => {
      // Not awaited: a slow Telegram must not hold the update handling (the call has its deadline).
      if (tap.messageId === undefined) return;
      void services.editButtons(tap.chatId, tap.messageId, markup.inline_keyboard).catch((err: unknown) => {
        services.logger.warn({ err: describeError(err) }, "telegram: could not show the confirmation buttons");
      });
    });
    services.answerCallback(query.id, notice);
  });

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

  function handle(command: CallbackCommand, tap: Tap, editMarkup: (markup: { inline_keyboard: ReturnType<typeof confirmKeyboard> }) => void): string | undefined {
    const { t } = tap;
    switch (command.type) {
      case "alerts":
        // A forged or stale offset is no page of the open alerts: refused, nothing sent.
        return showAlerts(tap.chatId, command.offset) ? undefined : t.notice.invalidButton;
      case "open":
        if (!store.getAlert(command.alertId)) return t.notice.unknownAlert;
        services.messages.invalidate(command.alertId, tap.chatId);
        services.refreshAlert(command.alertId, Priority.interactive, tap.chatId);
        return undefined;
      case "cancel":
        clearPending(command.alertId, tap);
        services.messages.invalidate(command.alertId, tap.chatId);
        services.refreshAlert(command.alertId, Priority.interactive, tap.chatId);
        return t.notice.cancelled;
      case "unblock":
        return undo(command.actionId, tap, Answer.BLOCK_IP, Answer.UNBLOCK_IP);
      case "revoke":
        return undo(command.actionId, tap, Answer.ALLOW, Answer.REVOKE_ALLOW);
      case "allow":
        // The duration tap is the decision itself: it stands even when the choice row timed out.
        clearPending(command.alertId, tap, Answer.ALLOW);
        return answer(command.alertId, Answer.ALLOW, tap, ALLOW_DURATION_MS[command.duration]);
      case "confirm": {
        const key = pendingKey(command.alertId, command.answer, tap);
        const entry = pending.get(key);
        clearPending(command.alertId, tap, command.answer);
        if (!entry || entry.expiresAt < now()) {
          services.messages.invalidate(command.alertId, tap.chatId);
          services.refreshAlert(command.alertId, Priority.interactive, tap.chatId);
          return t.notice.confirmExpired;
        }
        return answer(command.alertId, command.answer, tap);
      }
      case "answer": {
        const refusal = precheck(command.alertId, command.answer, tap);
        if (refusal !== undefined) return refusal;
        const choosesDuration = command.answer === Answer.ALLOW;
        if (!needsConfirmation(command.answer) && !choosesDuration) return answer(command.alertId, command.answer, tap);
        const key = pendingKey(command.alertId, command.answer, tap);
        clearPending(command.alertId, tap, command.answer);
        const timer = setTimeout(() => {
          if (pending.get(key)?.timer !== timer) return;
          pending.delete(key);
          services.messages.invalidate(command.alertId, tap.chatId);
          services.refreshAlert(command.alertId, Priority.update, tap.chatId);
        }, config.confirmTimeout);
        timer.unref();
        pending.set(key, { expiresAt: now() + config.confirmTimeout, timer });
        services.messages.invalidate(command.alertId, tap.chatId);
        const keyboard = choosesDuration ? allowKeyboard(command.alertId, t) : confirmKeyboard(command.alertId, command.answer, t);
        editMarkup({ inline_keyboard: keyboard });
        return choosesDuration ? t.notice.chooseAllowDuration : t.notice.confirmFirst;
      }
    }
  }

  /** Why an answer cannot be taken now, from the alert's current view; undefined if it can. */
  function precheck(alertId: string, answer: Answer, tap: Tap): string | undefined {
    const { t } = tap;
    const found = services.renderer.view(alertId, tap.chatId);
    if (!found) return t.notice.unknownAlert;
    const phase = found.view.phase;
    if (phase.type === "answered") return t.notice.alreadyAnswered({ answer: answerLabel(phase.outcome.answer, t, found.record.alert), by: operatorName(phase.outcome.operator) });
    if (phase.type === "resolved") return t.notice.resolved;
    if (phase.type === "expired") return t.notice.expired;
    if (!found.view.answers.includes(answer)) return t.notice.unsupported;
    return undefined;
  }

  function answer(alertId: string, chosen: Answer, tap: Tap, allowDurationMs?: number): string {
    const { t } = tap;
    const refusal = precheck(alertId, chosen, tap);
    if (refusal !== undefined) {
      services.refreshAlert(alertId, Priority.interactive, tap.chatId);
      return refusal;
    }
    const record = store.getAlert(alertId)!;
    const operator = operatorOf(tap.from);
    const outcome = services.actions.request({
      agentId: record.agentId,
      alertId,
      answer: chosen,
      operator,
      options: answerOptions(chosen, { blockDurationMs: config.defaultBlockDuration, powerDelayMs: config.powerDelay, durationMs: allowDurationMs }),
    });
    // Bookkeeping after the action is on its way: one transaction, off the delivery path.
    services.later(() => {
      if (outcome.ok && chosen === Answer.BLOCK_IP) {
        const target = outcome.action.target?.target;
        services.messages.trackAction({ actionId: outcome.action.actionId, agentId: record.agentId, answer: chosen, ip: target?.case === "ip" ? target.value : undefined, createdAt: now() });
      }
      services.refreshAlert(alertId, Priority.interactive, tap.chatId);
      services.audit(telegramActor(tap.from), "telegram.answer", `${Answer[chosen]} for alert ${alertId} on ${record.agentId}: ${outcome.ok ? "accepted" : outcome.reason}`);
    });
    return noticeFor(outcome, chosen, record.agentId, t);
  }

  /**
   * Undoes a done action on an address from a list button: Unblock (/blocks)
   * sends UNBLOCK_IP for a BLOCK_IP, Revoke (/allows) REVOKE_ALLOW for an
   * ALLOW, for its address on its server.
   */
  function undo(actionId: string, tap: Tap, done: Answer, undoing: Answer): string {
    const { t } = tap;
    const original = store.getAction(actionId);
    const ip = original?.target?.target.case === "ip" ? original.target.target.value : undefined;
    if (!original || original.answer !== done || original.state !== "done" || !ip) return t.notice.invalidButton;
    const outcome = services.actions.request({
      agentId: original.agentId,
      alertId: undefined,
      answer: undoing,
      operator: operatorOf(tap.from),
      target: create(ActionTargetSchema, { target: { case: "ip", value: ip } }),
    });
    services.later(() => {
      // Unblocks are tracked as blocks are, for /blocks.
      if (outcome.ok && undoing === Answer.UNBLOCK_IP) services.messages.trackAction({ actionId: outcome.action.actionId, agentId: original.agentId, answer: undoing, ip, createdAt: now() });
      // The list message shows the action's line now, and its result when it comes.
      if (outcome.ok && tap.list) services.lists.tapped(tap.list, outcome.action.actionId, now());
      services.audit(telegramActor(tap.from), "telegram.answer", `${Answer[undoing]} ${ip} on ${original.agentId}: ${outcome.ok ? "accepted" : outcome.reason}`);
    });
    return noticeFor(outcome, undoing, original.agentId, t);
  }

  function pendingKey(alertId: string, chosen: Answer, tap: Tap): string {
    return `${alertId}|${chosen}|${tap.chatId}|${tap.from.id}`;
  }

  function clearPending(alertId: string, tap: Tap, only?: Answer): void {
    for (const chosen of only === undefined ? [Answer.REBOOT, Answer.SHUTDOWN, Answer.ALLOW] : [only]) {
      const key = pendingKey(alertId, chosen, tap);
      const entry = pending.get(key);
      if (entry) clearTimeout(entry.timer);
      pending.delete(key);
    }
  }

  return {
    composer,
    stop() {
      for (const entry of pending.values()) clearTimeout(entry.timer);
      pending.clear();
    },
  };
}

function operatorOf(from: Tap["from"]): Operator {
  return create(OperatorSchema, {
    telegramUserId: BigInt(from.id),
    username: from.username ?? "",
    displayName: [from.first_name, from.last_name].filter(Boolean).join(" "),
  });
}

function noticeFor(outcome: ActionRequestOutcome, chosen: Answer, agentId: string, t: Translations): string {
  const label = answerLabel(chosen, t);
  if (outcome.ok) return outcome.delivered ? t.notice.sent({ answer: label, server: agentId }) : t.notice.queued({ answer: label, server: agentId });
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
