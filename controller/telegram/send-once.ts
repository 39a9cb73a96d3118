import type { Logger } from "../../common/log.js";
import type { BotApi, CallOutcome } from "./send-call.js";
import { describeSendError } from "./send-call.js";
import type { ChatParking } from "./chat-parking.js";
import type { SendPace } from "./send-pace.js";
import { classifySendError } from "./telegram-errors.js";

/** The result of a one-off message (sendOnce). */
export type OnceResult = { ok: true; messageId: number } | { ok: false; reason: string };

/** A one-off message waiting for its chat's pace. */
export interface OnceJob {
  chatId: number;
  text: string;
  settle(result: OnceResult): void;
}

export interface OnceLaneDeps {
  api: BotApi;
  pace: SendPace;
  logger: Logger;
  now: () => number;
  parking: ChatParking;
  /** Wakes the queue's pump (a one-off message is waiting). */
  kick: () => void;
  onRateLimited?: () => void;
  onOutcome?: (outcome: CallOutcome) => void;
}

/** One-off messages (a probe's test message): ahead of the durable jobs, no retry, nothing stored. */
export interface OnceLane {
  /** The first waiting message its chat's pace allows now, and the earliest time another will be allowed. */
  take(at: number, busy: ReadonlySet<number>): { job: OnceJob | undefined; wakeAt: number };
  run(job: OnceJob): Promise<void>;
  send(chatId: number, text: string, deadlineMs: number, stopped: boolean): Promise<OnceResult>;
  /** Settles every waiting message as not sent (the controller stops). */
  cancelAll(): void;
}

export function createOnceLane(deps: OnceLaneDeps): OnceLane {
  const { api, pace, logger, now } = deps;
  const onceJobs: OnceJob[] = [];

  return {
    take(at, busy) {
      let wakeAt = Infinity;
      const job = onceJobs.find((candidate) => {
        if (busy.has(candidate.chatId)) return false;
        const allowed = pace.nextAllowed(candidate.chatId, at);
        wakeAt = Math.min(wakeAt, allowed);
        return allowed <= at;
      });
      if (job) onceJobs.splice(onceJobs.indexOf(job), 1);
      return { job, wakeAt };
    },

    async run(job) {
      try {
        const sent = await api.sendMessage(job.chatId, job.text, []);
        pace.record(job.chatId, now());
        deps.onOutcome?.({ ok: true });
        deps.parking.resume(job.chatId, "success");
        job.settle({ ok: true, messageId: sent.messageId });
      } catch (err) {
        pace.record(job.chatId, now());
        const failure = classifySendError(err);
        if (failure.type === "rate_limited") {
          deps.onRateLimited?.();
          pace.pauseUntil(now() + failure.retryAfterMs);
        }
        if (failure.type === "chat_unreachable") deps.parking.park(job.chatId, describeSendError(err));
        const reason = describeSendError(err);
        deps.onOutcome?.({ ok: false, failure: failure.type, reason });
        logger.warn({ chatId: job.chatId, reason }, "telegram: one-off message not sent");
        job.settle({ ok: false, reason });
      }
    },

    send(chatId, text, deadlineMs, stopped) {
      return new Promise<OnceResult>((resolve) => {
        let settled = false;
        const job: OnceJob = {
          chatId,
          text,
          settle(result) {
            if (settled) return;
            settled = true;
            clearTimeout(deadline);
            resolve(result);
          },
        };
        const deadline = setTimeout(() => {
          const waiting = onceJobs.indexOf(job);
          if (waiting >= 0) onceJobs.splice(waiting, 1);
          const seconds = Math.round(deadlineMs / 100) / 10;
          const paused = pace.nextAllowed(chatId, now()) > now();
          job.settle({
            ok: false,
            reason:
              waiting >= 0
                ? `not sent within ${seconds} s: ${paused ? "waiting for Telegram's rate limit" : "the send queue is busy"}`
                : `no answer from Telegram within ${seconds} s`,
          });
        }, deadlineMs);
        deadline.unref();
        if (stopped) {
          job.settle({ ok: false, reason: "the controller is stopping" });
          return;
        }
        onceJobs.push(job);
        deps.kick();
      });
    },

    cancelAll() {
      for (const job of onceJobs.splice(0)) job.settle({ ok: false, reason: "the controller is stopping" });
    },
  };
}
