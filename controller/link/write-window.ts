import type { WriteBatcher } from "./write-batcher.js";

/**
 * Back-pressure of one stream: its reader stops pulling messages while the
 * stream has `maxInFlight` writes waiting for their commit, and resumes once
 * half of them have committed (so the next batch is queued while the
 * current one commits), or while all streams together have `maxQueued`.
 * HTTP/2 flow control then holds the rest at the agent, so an alert storm
 * costs bounded memory here.
 */
export interface WriteWindow {
  /** Queues `write` in the stream's queue of the group commit; settles after the commit. */
  run<T>(write: () => T): Promise<T>;
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
}

export function createWriteWindow(options: WriteWindowOptions): WriteWindow {
  const { batcher, key } = options;
  const maxInFlight = options.maxInFlight ?? 1_024;
  const maxQueued = options.maxQueued ?? 8_192;
  let inFlight = 0;
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
    run(write) {
      inFlight += 1;
      const done = batcher.run(write, key);
      last = done;
      done.then(settled, settled);
      return done;
    },
    room() {
      if (inFlight >= maxInFlight) return new Promise<void>((resolve) => (wake = resolve));
      if (batcher.pending() >= maxQueued) return idle();
      return undefined;
    },
    idle,
  };
}
