import { AsyncResource } from "node:async_hooks";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { Priority, type OutgoingText, type TelegramOperations, type TelegramStore } from "../store/telegram-store.js";

export interface Bookkeeping {
  /**
   * Defers bookkeeping to the end of the event loop turn, batched into one
   * transaction of the Telegram store. `soon`: right after the current task
   * (new alerts); otherwise after pending I/O (taps, so the action leaves first).
   */
  later(work: (tx: TelegramOperations) => Promise<void>, soon?: boolean): void;
  /** Queues a prepared message, in order (a reply of several pages is queued page after page). */
  reply(chatId: number, payload: OutgoingText): void;
  /** Commits what is deferred now; resolves when every batch and reply so far is in the store. */
  flush(): Promise<void>;
}

/** The bridge's deferred writes: batches of bookkeeping, each one transaction, one after the other, and replies in order. */
export function createBookkeeping(deps: { messages: TelegramStore; logger: Logger; now: () => number; kick: () => void; stopped: () => boolean }): Bookkeeping {
  const { messages, logger } = deps;
  const deferred: Array<(tx: TelegramOperations) => Promise<void>> = [];
  /** The batches in progress, one after the other (each its own transaction), in order. */
  let flushed = Promise.resolve();
  let replies = Promise.resolve();
  let flushing: NodeJS.Immediate | undefined;
  let flushSoon = false;

  function flush(): Promise<void> {
    flushSoon = false;
    if (flushing) clearImmediate(flushing);
    flushing = undefined;
    if (deferred.length > 0) {
      const batch = deferred.splice(0);
      flushed = flushed.then(async () => {
        try {
          await messages.transaction(async (tx) => {
            for (const work of batch) await work(tx);
          });
        } catch (err) {
          logger.error({ err: describeError(err) }, "telegram: bookkeeping failed; the next start re-renders from the store");
        }
        if (!deps.stopped()) deps.kick();
      });
    }
    return Promise.all([flushed, replies]).then(() => undefined);
  }

  return {
    later(work, soon = false) {
      deferred.push(work);
      if (soon && !flushSoon) {
        flushSoon = true;
        queueMicrotask(() => void flush());
      }
      flushing ??= setImmediate(() => void flush());
    },
    // Bound to the bridge's own context: a reply from inside `later` is queued after its transaction, not in it.
    reply: AsyncResource.bind((chatId: number, payload: OutgoingText): void => {
      replies = replies
        .then(() => messages.enqueueText(chatId, payload, Priority.interactive, deps.now()))
        .then(
          () => deps.kick(),
          (err: unknown) => logger.error({ err: describeError(err), chatId }, "telegram: reply not queued"),
        );
    }),
    flush,
  };
}
