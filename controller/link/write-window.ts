import type { Prefetched, StoreOperations } from "../store/store.js";
import type { WriteBatcher } from "./write-batcher.js";

/**
 * Back-pressure of one stream: its reader stops pulling messages while the
 * stream has `maxInFlight` writes waiting for their commit, and resumes once
 * half of them have committed (so the next batch is queued while the
 * current one commits), or while all streams together have `maxQueued`.
 * HTTP/2 flow control then holds the rest at the agent, so an alert storm
 * costs bounded memory here.
 *
 * And it reads at most `maxPerTurn` messages in a row before letting the
 * event loop run (other streams' data, the next group commit): a flooding
 * agent's buffered messages are not all decoded and queued in one go while
 * another agent's alert waits for the event loop.
 */
export interface WriteWindow {
  /** Queues `write` in the stream's queue of the group commit (with the batch's work for it); settles after the commit. */
  run<T>(write: (tx: StoreOperations) => Promise<T>, prefetched?: readonly Prefetched[]): Promise<T>;
  /** Undefined when the reader may pull the next message now; else resolves when it may. */
  room(): Promise<void> | undefined;
  /** Resolves once every write queued so far has settled. */
  idle(): Promise<void>;
}

export interface WriteWindowOptions {
  batcher: WriteBatcher;
  /** The stream's queue in the batcher (its session id). */
  key: string;
  /** Default: 1,024. */
  maxInFlight?: number;
  /** Default: 8,192. */
  maxQueued?: number;
  /** Messages read in a row before the reader yields to the event loop. Default: 64. */
  maxPerTurn?: number;
}

export function createWriteWindow(options: WriteWindowOptions): WriteWindow {
  const { batcher, key } = options;
  const maxInFlight = options.maxInFlight ?? 1_024;
  const maxQueued = options.maxQueued ?? 8_192;
  const maxPerTurn = options.maxPerTurn ?? 64;
  let inFlight = 0;
  let inARow = 0;
  let last: Promise<unknown> = Promise.resolve();
  let wake: (() => void) | undefined;
  const settled = () => {
    inFlight -= 1;
    if (wake && inFlight <= maxInFlight / 2) {
      const resume = wake;
      wake = undefined;
      resume();
    }
  };
  const idle = () => last.then(() => undefined, () => undefined);
  return {
    run(write, prefetched) {
      inFlight += 1;
      const done = batcher.run(write, key, prefetched);
      last = done;
      done.then(settled, settled);
      return done;
    },
    room() {
      inARow += 1;
      if (inFlight >= maxInFlight) {
        inARow = 0;
        return new Promise<void>((resolve) => (wake = resolve));
      }
      if (batcher.pending() >= maxQueued) {
        inARow = 0;
        return idle();
      }
      if (inARow >= maxPerTurn) {
        inARow = 0;
        return new Promise<void>((resolve) => setImmediate(resolve));
      }
      return undefined;
    },
    idle,
  };
}
