import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import { createMemoryHold } from "./memory-hold.js";
import type { Outbox } from "./outbox.js";

/**
 * How alerts reach the outbox. Alerts accepted in one turn of the event
 * loop are written in one transaction (one disk sync) at the end of the
 * turn, and only then sent.
 *
 * When the state file cannot be written (disk full, I/O error, read-only)
 * the alerts are held in memory instead — sent live all the same (the
 * controller stores each id and revision once) — and written as soon as a
 * retry succeeds, then sent again. An alert the controller acknowledges
 * while held needs no writing any more. Held alerts are bounded by
 * `maxHeld`: beyond it the oldest are dropped, counted and logged.
 */
export interface OutboxWriter {
  /** Queues an alert for the end of this turn. */
  queue(alert: Alert): void;
  /** Writes the queued alerts now (or holds them), then sends them. */
  flush(): void;
  /** The controller stored the alert: a held copy at or below `revision` is forgotten. */
  acked(alertId: string, revision: number): void;
  /** A held alert, if the outbox could not take it. */
  heldAlert(alertId: string): Alert | undefined;
  /** Sends every held alert (after a reconnect: they are not in the outbox to be resent). */
  resendHeld(): void;
  /** Alerts queued or held, not in the outbox. */
  waiting(): number;
  stats(): { held: number; dropped: number; writeFailures: number };
  /** Writes what it can one last time and stops retrying. */
  close(): void;
}

export interface OutboxWriterDeps {
  outbox: Outbox;
  /** Sends an alert if connected. */
  send(alert: Alert): void;
  logger: Logger;
  /** Most alerts held in memory. Default: 50,000. */
  maxHeld?: number;
  /** Retry interval while alerts are held. Default: 1000 ms. */
  retryMs?: number;
}

export function createOutboxWriter(deps: OutboxWriterDeps): OutboxWriter {
  const { outbox, send, logger } = deps;
  const held = createMemoryHold({ outbox, send, logger, maxHeld: deps.maxHeld ?? 50_000, retryMs: deps.retryMs ?? 1_000 });
  let queued: Alert[] = [];

  const holdAndSend = (batch: readonly Alert[]): void => {
    held.hold(batch);
    for (const alert of batch) send(alert);
  };

  const flush = (): void => {
    if (queued.length === 0) return;
    const batch = queued;
    queued = [];
    // Held alerts go first, so that the outbox keeps the order they were raised in.
    if (held.size() > 0 && !held.writeHeld()) {
      holdAndSend(batch);
      return;
    }
    let stored: Alert[];
    try {
      stored = outbox.putAlerts(batch);
    } catch (err) {
      held.countFailure();
      logger.error({ err: describeError(err), alerts: batch.length }, "alerts could not be written to the outbox; held in memory and retried");
      holdAndSend(batch);
      return;
    }
    for (const alert of stored) send(alert);
  };

  return {
    queue(alert) {
      queued.push(alert);
      if (queued.length === 1) setImmediate(flush);
    },
    flush,
    acked: (alertId, revision) => held.acked(alertId, revision),
    heldAlert: (alertId) => held.get(alertId),
    resendHeld() {
      for (const alert of held.all()) send(alert);
    },
    waiting: () => queued.length + held.size(),
    stats: () => held.stats(),
    close() {
      flush();
      held.writeHeld();
      held.close();
      if (held.size() > 0) logger.error({ alerts: held.size() }, "agent stopping with alerts the outbox could not take; they are lost");
    },
  };
}
