import type { Composer, Context } from "telegraf";
import { describeError } from "../../common/errors.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { answerOptions } from "../domain/answers.js";
import { answerLabel } from "./alert-labels.js";
import { allowKeyboard, confirmKeyboard } from "./alert-message.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import { ALLOW_DURATION_MS, needsConfirmation } from "./callback-data.js";
import { noticeFor, onTap, operatorOf, type Tap, type TapNotice } from "./callback-tap.js";
import { Priority } from "../store/telegram-store.js";
import { operatorName } from "./text-format.js";

export interface AnswerCallbacks {
  composer: Composer<Context>;
  /** Clears pending second taps and their timers. */
  stop(): void;
}

interface PendingSecondTap {
  expiresAt: number;
  timer: NodeJS.Timeout;
}

/** Answers that wait for a second tap: Reboot / Shut down (confirm), Allow (for how long). */
const SECOND_TAPS = [Answer.REBOOT, Answer.SHUTDOWN, Answer.ALLOW] as const;

/** The first taps waiting for their second, per alert, answer, chat and user; each times out after `timeoutMs`. */
interface SecondTaps {
  /** Waits for the second tap; `onTimeout` runs if none comes in time. */
  wait(alertId: string, chosen: Answer, tap: Tap, onTimeout: () => void): void;
  /** Whether a first tap waits (in time) for this second one; it stops waiting either way. */
  take(alertId: string, chosen: Answer, tap: Tap): boolean;
  /** Stops waiting for `only`, or for every second tap of the alert in this chat by this user. */
  clear(alertId: string, tap: Tap, only?: Answer): void;
  stop(): void;
}

function createSecondTaps(timeoutMs: number, now: () => number): SecondTaps {
  const pending = new Map<string, PendingSecondTap>();
  const keyOf = (alertId: string, chosen: Answer, tap: Tap) => `${alertId}|${chosen}|${tap.chatId}|${tap.from.id}`;
  const taps: SecondTaps = {
    wait(alertId, chosen, tap, onTimeout) {
      const key = keyOf(alertId, chosen, tap);
      taps.clear(alertId, tap, chosen);
      const timer = setTimeout(() => {
        if (pending.get(key)?.timer !== timer) return;
        pending.delete(key);
        onTimeout();
      }, timeoutMs);
      timer.unref();
      pending.set(key, { expiresAt: now() + timeoutMs, timer });
    },
    take(alertId, chosen, tap) {
      const entry = pending.get(keyOf(alertId, chosen, tap));
      taps.clear(alertId, tap, chosen);
      return entry !== undefined && entry.expiresAt >= now();
    },
    clear(alertId, tap, only) {
      for (const chosen of only === undefined ? SECOND_TAPS : [only]) {
        const key = keyOf(alertId, chosen, tap);
        const entry = pending.get(key);
        if (entry) clearTimeout(entry.timer);
        pending.delete(key);
      }
    },
    stop() {
      for (const entry of pending.values()) clearTimeout(entry.timer);
      pending.clear();
    },
  };
  return taps;
}

/**
 * The answer buttons under an alert: an answer goes to ActionRequests
 * (stored first, sent or queued); Reboot / Shut down need a confirming
 * second tap within confirmTimeout; Allow asks for how long (1 h / 24 h /
 * always) in the same way; Cancel puts the answer buttons back. The alert's
 * message itself is updated by the send queue.
 */
export function createAnswerCallbacks(services: BridgeServices): AnswerCallbacks {
  const { config, now } = services;
  const secondTaps = createSecondTaps(config.confirmTimeout, now);

  const composer = onTap(services, ["answer", "confirm", "allow", "cancel"], (command, tap) => {
    switch (command.type) {
      case "answer":
        return firstTap(command.alertId, command.answer, tap);
      case "confirm":
        return confirmTap(command.alertId, command.answer, tap);
      case "allow":
        // The duration tap is the answer itself: it stands even when the choice row timed out.
        secondTaps.clear(command.alertId, tap, Answer.ALLOW);
        return answer(command.alertId, Answer.ALLOW, tap, ALLOW_DURATION_MS[command.duration]);
      case "cancel":
        secondTaps.clear(command.alertId, tap);
        return refresh(command.alertId, tap).then(() => tap.t.notice.cancelled);
    }
  });

  async function refresh(alertId: string, tap: Tap, priority: number = Priority.interactive): Promise<void> {
    await services.messages.invalidate(alertId, tap.chatId);
    await services.refreshAlert(alertId, priority, tap.chatId);
  }

  async function firstTap(alertId: string, chosen: Answer, tap: Tap): Promise<TapNotice> {
    const refusal = await precheck(alertId, chosen, tap);
    if (refusal !== undefined) return refusal;
    const choosesDuration = chosen === Answer.ALLOW;
    if (!needsConfirmation(chosen) && !choosesDuration) return answer(alertId, chosen, tap);
    secondTaps.wait(alertId, chosen, tap, () => {
      refresh(alertId, tap, Priority.update).catch((err: unknown) => services.logger.error({ err: describeError(err), alertId }, "telegram: could not queue the message's buttons back"));
    });
    await services.messages.invalidate(alertId, tap.chatId);
    tap.showButtons(choosesDuration ? allowKeyboard(alertId, tap.t) : confirmKeyboard(alertId, chosen, tap.t));
    return choosesDuration ? tap.t.notice.chooseAllowDuration : tap.t.notice.confirmFirst;
  }

  async function confirmTap(alertId: string, chosen: Answer, tap: Tap): Promise<TapNotice> {
    if (!secondTaps.take(alertId, chosen, tap)) {
      await refresh(alertId, tap);
      return tap.t.notice.confirmExpired;
    }
    return answer(alertId, chosen, tap);
  }

  /** Why an answer cannot be taken now, from the alert's current view; undefined if it can. */
  async function precheck(alertId: string, chosen: Answer, tap: Tap): Promise<string | undefined> {
    const { t } = tap;
    const found = await services.renderer.view(alertId, tap.chatId);
    if (!found) return t.notice.unknownAlert;
    const phase = found.view.phase;
    if (phase.type === "answered") return t.notice.alreadyAnswered({ answer: answerLabel(phase.outcome.answer, t, found.record.alert), by: operatorName(phase.outcome.operator) });
    if (phase.type === "resolved") return t.notice.resolved;
    if (phase.type === "expired") return t.notice.expired;
    if (!found.view.answers.includes(chosen)) return t.notice.unsupported;
    return undefined;
  }

  async function answer(alertId: string, chosen: Answer, tap: Tap, allowDurationMs?: number): Promise<string> {
    const refusal = await precheck(alertId, chosen, tap);
    if (refusal !== undefined) {
      await services.refreshAlert(alertId, Priority.interactive, tap.chatId);
      return refusal;
    }
    const record = (await services.store.getAlert(alertId))!;
    const outcome = await services.actions.request({
      agentId: record.agentId,
      alertId,
      answer: chosen,
      operator: operatorOf(tap.from),
      options: answerOptions(chosen, { blockDurationMs: config.defaultBlockDuration, powerDelayMs: config.powerDelay, durationMs: allowDurationMs }),
    });
    // Bookkeeping after the action is on its way: one transaction, off the delivery path.
    services.later(async (tx) => {
      if (outcome.ok && chosen === Answer.BLOCK_IP) {
        const target = outcome.action.target?.target;
        await tx.trackAction({ actionId: outcome.action.actionId, agentId: record.agentId, answer: chosen, ip: target?.case === "ip" ? target.value : undefined, createdAt: now() });
      }
      await services.refreshAlert(alertId, Priority.interactive, tap.chatId, tx);
      services.audit(telegramActor(tap.from), "telegram.answer", `${Answer[chosen]} for alert ${alertId} on ${record.agentId}: ${outcome.ok ? "accepted" : outcome.reason}`);
    });
    return noticeFor(outcome, chosen, record.agentId, tap.t);
  }

  return {
    composer,
    stop: () => secondTaps.stop(),
  };
}
