/**
 * The timer that the controller's own watches (agent presence, blind
 * detectors) share: look now, then every `everyMs` on an unref'd interval,
 * until stopped.
 */

export interface WatchTimer {
  stop(): void;
}

/** A watch's default period: a quarter of the time it waits for, between 100 ms and 5 s. */
export function defaultCheckEvery(waitMs: number): number {
  return Math.max(100, Math.min(5_000, Math.floor(waitMs / 4)));
}

/** Runs `check` at once and then every `everyMs`; the timer never keeps the process alive. */
export function startWatchTimer(check: () => void | Promise<void>, everyMs: number): WatchTimer {
  const timer = setInterval(() => void check(), everyMs);
  timer.unref();
  void check();
  return { stop: () => clearInterval(timer) };
}
