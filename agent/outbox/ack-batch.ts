import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";

/**
 * The controller's acknowledgements, gathered and written to the outbox in
 * one transaction at the end of the event-loop turn (or at once by
 * `flush`). A write that fails keeps them, merged with those that arrive
 * meanwhile, and is retried every `retryMs`.
 */
export interface AckBatch {
  ackAlert(alertId: string, revision: number): void;
  ackResult(actionId: string): void;
  /** Writes the gathered acks now; true when none is left. */
  flush(): boolean;
  /** Acks gathered and not written yet. */
  size(): number;
  /** Stops retrying. */
  stop(): void;
}

export interface AckBatchDeps {
  /** Deletes the acknowledged entries in one transaction; throws when it cannot. */
  apply(alerts: Map<string, number>, results: Set<string>): void;
  /** Whether the state file is still open. */
  isOpen(): boolean;
  logger?: Logger;
  retryMs: number;
}

export function createAckBatch(deps: AckBatchDeps): AckBatch {
  const { logger, retryMs } = deps;
  let alertAcks = new Map<string, number>();
  let resultAcks = new Set<string>();
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failing = false;

  const keep = (alerts: Map<string, number>, results: Set<string>): void => {
    for (const [id, revision] of alerts) alertAcks.set(id, Math.max(revision, alertAcks.get(id) ?? 0));
    for (const id of results) resultAcks.add(id);
  };
  const retryLater = (): void => {
    retryTimer ??= setTimeout(() => {
      retryTimer = undefined;
      flush();
    }, retryMs);
    retryTimer.unref();
  };
  const flush = (): boolean => {
    scheduled = false;
    if (alertAcks.size === 0 && resultAcks.size === 0) return true;
    if (!deps.isOpen()) return false;
    const alerts = alertAcks;
    const results = resultAcks;
    alertAcks = new Map();
    resultAcks = new Set();
    try {
      deps.apply(alerts, results);
    } catch (err) {
      keep(alerts, results);
      if (!failing) logger?.error({ err: describeError(err), acks: alertAcks.size + resultAcks.size }, "acknowledgements could not be written to the outbox; retrying");
      failing = true;
      retryLater();
      return false;
    }
    if (failing) logger?.info({ acks: alerts.size + results.size }, "acknowledgements written to the outbox again");
    failing = false;
    return true;
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      if (scheduled) flush();
    });
  };
  return {
    ackAlert(alertId, revision) {
      alertAcks.set(alertId, Math.max(revision, alertAcks.get(alertId) ?? 0));
      schedule();
    },
    ackResult(actionId) {
      resultAcks.add(actionId);
      schedule();
    },
    flush,
    size: () => alertAcks.size + resultAcks.size,
    stop() {
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
    },
  };
}
