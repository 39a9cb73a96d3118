import type { Logger } from "../../common/log.js";
import type { Store } from "../store/store.js";
import type { AlertRenderer } from "./alert-renderer.js";
import type { TelegramConfig } from "./config.js";
import type { MessageStore, QueueJob } from "./message-store.js";
import { createSendCall, type BotApi, type CallOutcome } from "./send-call.js";
import { createDigestSender } from "./send-digest.js";
import { createJobRunner } from "./send-job.js";
import { createOnceLane, type OnceResult } from "./send-once.js";
import type { SendPace } from "./send-pace.js";
import { toSecarcError } from "./telegram-errors.js";
import { describeError } from "../../common/errors.js";
import { isStorageError, storageTrouble } from "../store/storage-errors.js";

export { describeSendError, type BotApi, type CallOutcome } from "./send-call.js";
export type { OnceResult } from "./send-once.js";

export interface SendQueue {
  /** Looks for due work now (call after enqueueing). */
  kick(): void;
  /**
   * Sends one message once, ahead of the durable jobs and at the chat's pace,
   * and resolves to what Telegram answered: no retry, nothing stored (a
   * probe's test message). Resolves with a failure when the message could not
   * be sent, or Telegram did not answer, within `deadlineMs`.
   */
  sendOnce(chatId: number, text: string, deadlineMs: number): Promise<OnceResult>;
  /** Waits for the job in flight, then stops. */
  stop(): Promise<void>;
  depth(): number;
}

export interface SendQueueDeps {
  api: BotApi;
  store: Store;
  messages: MessageStore;
  renderer: AlertRenderer;
  pace: SendPace;
  config: TelegramConfig;
  logger: Logger;
  now: () => number;
  /** Called after each 429 answer (for metrics). */
  onRateLimited?: () => void;
  /** Called with the queue depth whenever the queue goes idle or waits (for metrics). */
  onDepth?: (depth: number) => void;
  /** Called after every Bot API call with how it ended (for the failure watch). */
  onOutcome?: (outcome: CallOutcome) => void;
}

const SCAN = 500;
/** How long the queue waits when the store cannot be written. */
const STORE_RETRY_MS = 5_000;

/**
 * The durable send queue: jobs live in SQLite, so a restart loses none. One
 * job at a time, most urgent first, each chat at Telegram's pace; the steps:
 * one-off messages first (send-once.ts), then the most urgent due job whose
 * chat's pace allows it, carried out by the job runner (send-job.ts, with
 * digests in send-digest.ts), through the one call step that retries
 * (send-call.ts: 429 → wait retry_after; network/5xx → backoff).
 */
export function createSendQueue(deps: SendQueueDeps): SendQueue {
  const { messages, pace, logger, now } = deps;
  let running = false;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let inFlight: Promise<void> = Promise.resolve();

  const call = createSendCall({ ...deps, stopped: () => stopped });
  const sendDigest = createDigestSender({ ...deps, call });
  const runJob = createJobRunner({ ...deps, call, sendDigest });
  const once = createOnceLane({ ...deps, kick });

  function schedule(at: number): void {
    if (stopped || at >= timerAt) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      kick();
    }, Math.max(0, at - now()));
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    inFlight = pump().finally(() => {
      running = false;
      if (again && !stopped) {
        again = false;
        kick();
      }
    });
  }

  /** The most urgent due job whose chat may be sent to now, and when to look again otherwise. */
  function nextJob(at: number, onceWake: number): { next: QueueJob | undefined; wakeAt: number } {
    const jobs = messages.listDue(at, SCAN);
    let wakeAt = messages.nextNotBefore() ?? Infinity;
    if (wakeAt <= at) wakeAt = Infinity;
    wakeAt = Math.min(wakeAt, onceWake);
    for (const job of jobs) {
      const allowed = pace.nextAllowed(job.chatId, at);
      if (allowed <= at) return { next: job, wakeAt };
      wakeAt = Math.min(wakeAt, allowed);
    }
    return { next: undefined, wakeAt };
  }

  async function pump(): Promise<void> {
    while (!stopped) {
      again = false;
      const at = now();
      const waiting = once.take(at);
      if (waiting.job) {
        await once.run(waiting.job);
        continue;
      }
      const { next, wakeAt } = nextJob(at, waiting.wakeAt);
      if (!next) {
        deps.onDepth?.(messages.depth());
        if (wakeAt < Infinity) schedule(wakeAt);
        return;
      }
      try {
        await runJob(next);
      } catch (err) {
        if (isStorageError(err)) {
          // The store cannot be written (disk full): the job stays as it is; look again later.
          logger.error({ err: describeError(err), chatId: next.chatId }, `telegram: ${storageTrouble(err)}; the send queue waits ${STORE_RETRY_MS / 1000} s`);
          schedule(now() + STORE_RETRY_MS);
          return;
        }
        logger.error({ err: toSecarcError(err, "telegram job failed"), chatId: next.chatId }, "telegram job failed unexpectedly; dropped");
        try {
          messages.drop(next.id);
        } catch (dropErr) {
          logger.error({ err: describeError(dropErr) }, "telegram: the failed job could not be dropped; retried later");
          schedule(now() + STORE_RETRY_MS);
          return;
        }
      }
    }
  }

  return {
    kick,
    sendOnce: (chatId, text, deadlineMs) => once.send(chatId, text, deadlineMs, stopped),
    depth: () => messages.depth(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      once.cancelAll();
      await inFlight.catch(() => {});
    },
  };
}
