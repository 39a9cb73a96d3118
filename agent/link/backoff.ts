/**
 * Exponential backoff with full jitter: the n-th consecutive failure waits a
 * random time in [0, min(max, initial·2ⁿ)]. `reset` after a healthy session
 * starts over from `initial`.
 */
export interface Backoff {
  /** The wait before the next attempt, in milliseconds; counts a failure. */
  next(): number;
  /** A wait drawn at the count so far, without counting: for attempts that share one step of the backoff. */
  draw(): number;
  /** Forgets past failures. */
  reset(): void;
  /** Consecutive failures counted since the last reset. */
  readonly attempts: number;
}

export interface BackoffOptions {
  /** Upper bound of the first wait. */
  initialMs: number;
  /** Upper bound of any wait. */
  maxMs: number;
  /** Uniform random number in [0, 1); injected for tests. Default: Math.random. */
  random?: () => number;
}

export function createBackoff({ initialMs, maxMs, random = Math.random }: BackoffOptions): Backoff {
  let attempts = 0;
  return {
    next() {
      const wait = this.draw();
      attempts += 1;
      return wait;
    },
    draw() {
      return Math.floor(random() * Math.min(maxMs, initialMs * 2 ** Math.min(attempts, 30)));
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}
