import type { Logger } from "../../common/log.js";
import type { CallOutcome } from "./send-queue.js";

/** What the watch knows about Telegram sends right now. */
export interface TelegramSendHealth {
  /** True once sends have been failing, with no success, for at least the threshold. */
  failing: boolean;
  /** When the current run of failures began (the first failure after the last success). */
  failingSince: number | undefined;
  /** The reason of the latest failure in the current run. */
  lastError: string | undefined;
  /** When a Bot API call last succeeded; undefined before the first success. */
  lastSuccessAt: number | undefined;
  /** When the watch started (the reference for "since the last success" before any success). */
  watchingSince: number;
  /** The latest run of failures that crossed the threshold and has ended, if any. */
  lastIncident: { since: number; until: number; lastError: string } | undefined;
}

export interface FailureWatchOptions {
  /** How long sends must fail, without a success in between, before the watch says so. */
  thresholdMs: number;
  logger: Logger;
  now: () => number;
}

export interface FailureWatch {
  /** Feeds the outcome of one Bot API call (the send queue's onOutcome). */
  record(outcome: CallOutcome): void;
  /** Re-evaluates the threshold against the clock (called periodically: no call may come while the queue waits). */
  check(): void;
  health(): TelegramSendHealth;
}

/**
 * Notices when Telegram sends have been failing for longer than a threshold.
 * A run of failures starts at the first failed call after a success and ends
 * at the next success; when a run reaches the threshold the watch logs one
 * error, and when it ends one warning that sends work again. Time comes only
 * from the injected clock.
 */
export function createFailureWatch(options: FailureWatchOptions): FailureWatch {
  const { thresholdMs, logger, now } = options;
  const watchingSince = now();
  let lastSuccessAt: number | undefined;
  let failingSince: number | undefined;
  let lastError: string | undefined;
  let failing = false;
  let lastIncident: TelegramSendHealth["lastIncident"];

  function check(): void {
    if (failing || failingSince === undefined) return;
    const at = now();
    if (at - failingSince < thresholdMs) return;
    failing = true;
    logger.error(
      { failingSince: new Date(failingSince).toISOString(), lastError, lastSuccessAt: lastSuccessAt === undefined ? undefined : new Date(lastSuccessAt).toISOString(), thresholdMs },
      `telegram: sends failing for ${Math.round((at - failingSince) / 1000)} s (since ${new Date(failingSince).toISOString()}): ${lastError ?? "unknown error"}`,
    );
  }

  return {
    record(outcome) {
      const at = now();
      if (outcome.ok) {
        if (failing && failingSince !== undefined) {
          lastIncident = { since: failingSince, until: at, lastError: lastError ?? "unknown error" };
          logger.warn(
            { failingSince: new Date(failingSince).toISOString(), failedForMs: at - failingSince, lastError },
            `telegram: sends work again after failing for ${Math.round((at - failingSince) / 1000)} s`,
          );
        }
        lastSuccessAt = at;
        failingSince = undefined;
        lastError = undefined;
        failing = false;
        return;
      }
      failingSince ??= at;
      lastError = outcome.reason;
      check();
    },
    check,
    health: () => ({ failing, failingSince, lastError, lastSuccessAt, watchingSince, lastIncident }),
  };
}
