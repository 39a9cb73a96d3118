import { AsyncResource } from "node:async_hooks";
import type { Logger } from "../../common/log.js";
import type { Store } from "../store/store.js";
import type { AlertRenderer } from "./alert-renderer.js";
import { createChatParking, type ParkedChat } from "./chat-parking.js";
import type { TelegramConfig } from "./config.js";
import type { QueueJob, TelegramStore } from "../store/telegram-store.js";
import { createSendCall, type BotApi, type CallOutcome } from "./send-call.js";
import { createDigestSender } from "./send-digest.js";
import { createJobRunner, type SendJobDeps } from "./send-job.js";
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
  /** Waits for the calls in flight (each has its deadline), then stops. */
  stop(): Promise<void>;
  depth(): Promise<number>;
  /** An update came from this chat (someone wrote there): a parked chat resumes. */
  chatUpdate(chatId: number): void;
  /** Chats whose sends are parked, and why. */
  parked(): ParkedChat[];
}

export interface SendQueueDeps {
  api: BotApi;
  store: Store;
  messages: TelegramStore;
  renderer: AlertRenderer;
  pace: SendPace;
  config: TelegramConfig;
  logger: Logger;
  now: () => number;
  /** The forum topic an alert goes to in a chat (routes). Default: none. */
  threadOf?: SendJobDeps["threadOf"];
  /** Renders a list message a tap in it changed (list-results.ts). */
  renderList?: SendJobDeps["renderList"];
  /** Sends and edits the summary messages of blocks on all servers (fleet-summary-job.ts). */
  runFleetJob?: SendJobDeps["runFleetJob"];
  /** Called with the number of parked chats whenever it changes (for metrics). */
  onParked?: (parked: number) => void;
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
 * The durable send queue: jobs live in the store, so a restart loses none. Up to
 * `concurrency` chats at once and one job at a time per chat (a slow or
 * parked chat holds only itself), most urgent first, each chat at Telegram's
 * pace; every call has its deadline (bridge.ts). The steps:
 * one-off messages first (send-once.ts), then the most urgent due job whose
 * chat's pace allows it, carried out by the job runner (send-job.ts, with
 * digests in send-digest.ts), through the one call step that retries
 * (send-call.ts: 429 → wait retry_after; network/5xx → backoff).
 */
export function createSendQueue(deps: SendQueueDeps): SendQueue {
  const { messages, pace, logger, now } = deps;
  const parking = createChatParking({ retryMs: deps.config.parkedRetry, logger, now, ...(deps.onParked ? { onChange: deps.onParked } : {}) });
  const concurrency = Math.max(1, deps.config.concurrency);
  let stopped = false;
  /** While the store cannot be written, nothing new starts before this time. */
  let storeWaitUntil = 0;
  let filling = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  /** Chats with a job in flight: one at a time per chat, so a slow chat holds only itself. */
  const busy = new Set<number>();
  const inFlight = new Set<Promise<void>>();

  const call = createSendCall({
    ...deps,
    parking,
    stopped: () => stopped,
    onStoreTrouble: () => {
      storeWaitUntil = now() + STORE_RETRY_MS;
    },
  });
  const sendDigest = createDigestSender({ ...deps, call });
  const runJob = createJobRunner({ ...deps, call, sendDigest });
  const once = createOnceLane({ ...deps, parking, kick: () => kick() });

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

  /**
   * Starts due work, up to `concurrency` chats at once; never waits for a
   * call. Bound to the queue's own context: a kick from inside a store
   * transaction (bookkeeping that queued a job) reads the queue after it, not in it.
   */
  const kick = AsyncResource.bind(function kick(): void {
    if (stopped) return;
    if (filling) {
      again = true;
      return;
    }
    filling = true;
    void (async () => {
      try {
        do {
          again = false;
          await fill();
        } while (again && !stopped);
      } catch (err) {
        // The store could not be read: look again later.
        logger.error({ err: describeError(err) }, `telegram: the send queue could not be read; it looks again in ${STORE_RETRY_MS / 1000} s`);
        storeWaitUntil = now() + STORE_RETRY_MS;
        schedule(storeWaitUntil);
      } finally {
        filling = false;
      }
    })();
  });

  /** Runs one piece of work for a chat; the chat is busy until it ends, then the queue looks again. */
  function start(chatId: number, work: () => Promise<void>): void {
    busy.add(chatId);
    const running: Promise<void> = work().finally(() => {
      busy.delete(chatId);
      inFlight.delete(running);
      kick();
    });
    inFlight.add(running);
  }

  /** The most urgent due job of a chat that is free, not parked and whose pace allows it now; and when to look again otherwise. */
  async function nextJob(at: number, onceWake: number): Promise<{ next: QueueJob | undefined; wakeAt: number }> {
    const jobs = await messages.listDue(at, SCAN);
    let wakeAt = (await messages.nextNotBefore()) ?? Infinity;
    if (wakeAt <= at) wakeAt = Infinity;
    wakeAt = Math.min(wakeAt, onceWake, parking.nextRetry() ?? Infinity);
    for (const job of jobs) {
      if (busy.has(job.chatId) || parking.holds(job.chatId, at)) continue;
      const allowed = pace.nextAllowed(job.chatId, at);
      if (allowed <= at) return { next: job, wakeAt };
      wakeAt = Math.min(wakeAt, allowed);
    }
    return { next: undefined, wakeAt };
  }

  async function fill(): Promise<void> {
    while (!stopped && inFlight.size < concurrency) {
      const at = now();
      if (at < storeWaitUntil) {
        schedule(storeWaitUntil);
        return;
      }
      const waiting = once.take(at, busy);
      if (waiting.job) {
        start(waiting.job.chatId, () => once.run(waiting.job!));
        continue;
      }
      const { next, wakeAt } = await nextJob(at, waiting.wakeAt);
      if (stopped) return;
      if (!next) {
        if (inFlight.size === 0) deps.onDepth?.(await messages.depth());
        if (wakeAt < Infinity) schedule(wakeAt);
        return;
      }
      start(next.chatId, async () => {
        try {
          await runJob(next);
        } catch (err) {
          if (isStorageError(err)) {
            // The store cannot be written (disk full): the job stays as it is; look again later.
            logger.error({ err: describeError(err), chatId: next.chatId }, `telegram: ${storageTrouble(err)}; the send queue waits ${STORE_RETRY_MS / 1000} s`);
            storeWaitUntil = now() + STORE_RETRY_MS;
            schedule(storeWaitUntil);
            return;
          }
          logger.error({ err: toSecarcError(err, "telegram job failed"), chatId: next.chatId }, "telegram job failed unexpectedly; dropped");
          try {
            await messages.drop(next.id);
          } catch (dropErr) {
            logger.error({ err: describeError(dropErr) }, "telegram: the failed job could not be dropped; retried later");
            storeWaitUntil = now() + STORE_RETRY_MS;
            schedule(storeWaitUntil);
          }
        }
      });
    }
  }

  return {
    kick,
    sendOnce: (chatId, text, deadlineMs) => once.send(chatId, text, deadlineMs, stopped),
    depth: () => messages.depth(),
    chatUpdate(chatId) {
      if (parking.resume(chatId, "update")) kick();
    },
    parked: () => parking.list(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      once.cancelAll();
      await Promise.allSettled([...inFlight]);
    },
  };
}
