import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { isStorageError, storageTrouble } from "../store/storage-errors.js";
import type { InlineKeyboard } from "./alert-message.js";
import type { ChatParking } from "./chat-parking.js";
import type { QueueJob, TelegramStore } from "../store/telegram-store.js";
import type { SendPace } from "./send-pace.js";
import { backoffMs, classifySendError, mayHaveArrived, toSecarcError, type SendFailure } from "./telegram-errors.js";

/** The two Bot API calls the queue makes. */
export interface BotApi {
  /** `threadId`: the forum topic (message_thread_id); undefined: the chat's main thread. */
  sendMessage(chatId: number, text: string, keyboard: InlineKeyboard, threadId?: number): Promise<{ messageId: number }>;
  editMessage(chatId: number, messageId: number, text: string, keyboard: InlineKeyboard): Promise<void>;
}

/** How one Bot API call ended, as the queue saw it (for the failure watch). */
export type CallOutcome = { ok: true } | { ok: false; failure: SendFailure["type"]; reason: string };

/**
 * A failed Bot API call in words, for operators: "Telegram answered 401:
 * Unauthorized", "Telegram unreachable: connect ECONNREFUSED ...". The bot
 * token, part of the URL in network errors, is never included.
 */
export function describeSendError(err: unknown): string {
  const e = (err ?? {}) as { response?: { error_code?: unknown; description?: unknown; parameters?: { retry_after?: unknown } }; message?: unknown };
  const code = typeof e.response?.error_code === "number" ? e.response.error_code : undefined;
  const redact = (text: string) => text.replace(/\/bot[^/\s]+/g, "/bot<token>");
  if (code !== undefined) {
    const description = redact(String(e.response?.description ?? "")).replace(/^Error$/, "");
    const retryAfter = code === 429 ? Number(e.response?.parameters?.retry_after) : NaN;
    const extra = Number.isFinite(retryAfter) && retryAfter > 0 ? ` (retry after ${retryAfter} s)` : "";
    return `Telegram answered ${code}${description ? `: ${description}` : ""}${extra}`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `Telegram unreachable: ${redact(message)}`;
}

export interface SendCallDeps {
  messages: TelegramStore;
  parking: ChatParking;
  /** Called while a sent message cannot be recorded (the store cannot be written): the queue starts nothing new meanwhile. */
  onStoreTrouble?: () => void;
  pace: SendPace;
  logger: Logger;
  now: () => number;
  /** Called after each 429 answer (for metrics). */
  onRateLimited?: () => void;
  /** Called after every Bot API call with how it ended (for the failure watch). */
  onOutcome?: (outcome: CallOutcome) => void;
  /** True once the queue stops (ends the wait for a full store). */
  stopped?: () => boolean;
}

/** How often a sent message's bookkeeping is retried while the store cannot be written. */
const RECORD_RETRY_MS = 1_000;

/**
 * Makes one API call for a durable job; on failure decides (once, here)
 * whether and when to retry: the queue's one retry stage.
 */
export type SendCall = <T>(job: QueueJob, send: () => Promise<T>, onSuccess: (result: T) => Promise<unknown>, onGone?: () => Promise<unknown>) => Promise<void>;

export function createSendCall(deps: SendCallDeps): SendCall {
  const { messages, pace, logger, now } = deps;
  return async function call<T>(job: QueueJob, send: () => Promise<T>, onSuccess: (result: T) => Promise<unknown>, onGone?: () => Promise<unknown>): Promise<void> {
    let result: T;
    try {
      result = await send();
    } catch (err) {
      pace.record(job.chatId, now());
      const failure = classifySendError(err);
      // An edit that changes nothing, of a deleted message, a refused chat: Telegram answered (the chat's state is the parking's).
      if (failure.type === "not_modified" || failure.type === "message_gone" || failure.type === "chat_unreachable") deps.onOutcome?.({ ok: true });
      else deps.onOutcome?.({ ok: false, failure: failure.type, reason: describeSendError(err) });
      switch (failure.type) {
        case "not_modified":
          await onSuccess(undefined as T);
          return;
        case "rate_limited":
          deps.onRateLimited?.();
          pace.pauseUntil(now() + failure.retryAfterMs);
          await messages.postpone(job.id, now() + failure.retryAfterMs);
          logger.warn({ chatId: job.chatId, retryAfterMs: failure.retryAfterMs }, "telegram: rate limited, waiting");
          return;
        case "unauthorized": // The bridge notices the refused token and pauses; the job waits.
        case "transient": {
          // A claimed send (an alert's first) whose call may have been carried out keeps its in-flight mark: the retry says it may be a repeat.
          // (A refused token is Telegram's answer: never carried out.)
          const unknown = mayHaveArrived(err);
          await messages.postpone(job.id, now() + backoffMs(job.attempts), { keepInFlightMark: unknown });
          logger.warn({ err: toSecarcError(err, "telegram call failed"), attempts: job.attempts + 1, mayHaveArrived: unknown }, "telegram: call failed, will retry");
          return;
        }
        case "message_gone":
          if (onGone) {
            await onGone();
            return;
          }
          await messages.drop(job.id);
          return;
        case "chat_unreachable":
          // Kept, not dropped (and still due): the parking holds the chat's queue until it is reachable again.
          deps.parking.park(job.chatId, describeSendError(err));
          return;
        case "permanent":
          await messages.drop(job.id);
          logger.error({ err: toSecarcError(err, "telegram call refused"), chatId: job.chatId }, "telegram: call refused; job dropped");
          return;
      }
    }
    // Counted when Telegram has answered, so the gap holds on its side too.
    pace.record(job.chatId, now());
    deps.onOutcome?.({ ok: true });
    deps.parking.resume(job.chatId, "success");
    if (job.attempts > 0) logger.info({ chatId: job.chatId, failedAttempts: job.attempts }, `telegram: call to chat ${job.chatId} succeeded after ${job.attempts} failed attempt(s)`);
    await recordSent(() => onSuccess(result), job);
  };

  /**
   * What Telegram has shown must be recorded, or a retry would show it again
   * (a digest of 187 alerts sent twice). While the store cannot be written
   * the record is retried here, in memory, and the queue sends nothing else.
   * Only a stop (or a crash) before it succeeds leaves the message unrecorded.
   */
  async function recordSent(record: () => Promise<unknown>, job: QueueJob): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await record();
        if (attempt > 0) logger.info({ chatId: job.chatId, attempts: attempt + 1 }, "telegram: sent message recorded after the store came back");
        return;
      } catch (err) {
        if (!isStorageError(err) || deps.stopped?.()) throw err;
        deps.onStoreTrouble?.();
        if (attempt === 0) logger.error({ chatId: job.chatId, err: describeError(err) }, `telegram: ${storageTrouble(err)}; the sent message is recorded when the store can be written, nothing else is sent meanwhile`);
        await new Promise((resolve) => setTimeout(resolve, RECORD_RETRY_MS).unref());
      }
    }
  }
}
