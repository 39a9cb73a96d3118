import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { Outbox } from "./outbox.js";

/**
 * Alerts the outbox could not take (disk full, I/O error, read-only), kept
 * in memory — newest revision per id, at most `maxHeld` (the oldest are
 * dropped, counted and logged) — and written again every `retryMs` until
 * the outbox takes them; each written one is sent again.
 */
export interface MemoryHold {
  /** Holds alerts and starts the retry timer. */
  hold(alerts: readonly Alert[]): void;
  /** Writes the held alerts now (then sends them); true when none is left held. */
  writeHeld(): boolean;
  /** The controller stored the alert: a held copy at or below `revision` is forgotten. */
  acked(alertId: string, revision: number): void;
  get(alertId: string): Alert | undefined;
  all(): IterableIterator<Alert>;
  size(): number;
  stats(): { held: number; dropped: number; writeFailures: number };
  /** Counts a failed write outside the hold (a batch that went to the hold). */
  countFailure(): void;
  /** Stops retrying. */
  close(): void;
}

export interface MemoryHoldDeps {
  outbox: Outbox;
  send(alert: Alert): void;
  logger: Logger;
  maxHeld: number;
  retryMs: number;
}

export function createMemoryHold(deps: MemoryHoldDeps): MemoryHold {
  const { outbox, send, logger, maxHeld, retryMs } = deps;
  const held = new Map<string, Alert>();
  let dropped = 0;
  let writeFailures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const schedule = (): void => {
    if (retryTimer || closed) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (!writeHeld()) schedule();
    }, retryMs);
    retryTimer.unref();
  };

  const writeHeld = (): boolean => {
    if (held.size === 0) return true;
    const alerts = [...held.values()];
    try {
      outbox.putAlerts(alerts);
    } catch (err) {
      writeFailures += 1;
      logger.debug({ err: describeError(err), held: held.size }, "held alerts still cannot be written to the outbox");
      return false;
    }
    held.clear();
    logger.info({ alerts: alerts.length }, "held alerts written to the outbox");
    for (const alert of alerts) send(alert);
    return true;
  };

  return {
    hold(alerts) {
      for (const alert of alerts) {
        const existing = held.get(alert.id);
        if (existing && existing.revision >= alert.revision) continue;
        held.delete(alert.id);
        held.set(alert.id, alert);
      }
      while (held.size > maxHeld) {
        const oldest = held.keys().next().value as string;
        held.delete(oldest);
        dropped += 1;
        logger.error({ alertId: oldest, maxHeld, dropped }, "alert dropped: the outbox cannot be written and the memory hold is full");
      }
      schedule();
    },
    writeHeld,
    acked(alertId, revision) {
      const alert = held.get(alertId);
      if (alert && alert.revision <= revision) held.delete(alertId);
    },
    get: (alertId) => held.get(alertId),
    all: () => held.values(),
    size: () => held.size,
    stats: () => ({ held: held.size, dropped, writeFailures }),
    countFailure() {
      writeFailures += 1;
    },
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
    },
  };
}
