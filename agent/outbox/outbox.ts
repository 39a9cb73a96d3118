import type { Database as Db, Statement } from "better-sqlite3";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Logger } from "../../common/log.js";
import { createAckBatch } from "./ack-batch.js";
import { ActionResultSchema, type ActionResult } from "../../gen/secarc/v1/action_pb.js";
import { AlertSchema, type Alert } from "../../gen/secarc/v1/alert_pb.js";

/** One message waiting for the controller's acknowledgement. */
export type OutboxEntry =
  | { kind: "alert"; seq: number; alert: Alert }
  | { kind: "result"; seq: number; result: ActionResult };

/**
 * The durable outbox: alerts and action results stay here, on disk, from
 * before they are first sent until the controller acknowledges them.
 *
 * - An alert is keyed by id. A newer revision replaces a pending older one
 *   (the controller keeps the highest revision anyway); an equal or older
 *   revision of a pending alert is ignored.
 * - `AlertAck(id, revision)` removes the alert when the pending revision is
 *   at or below the acknowledged one.
 * - A result is keyed by action id and removed by `ResultAck`.
 *
 * Writes are synchronous and durable when they return (synchronous=FULL).
 * Acknowledgements are batched: they are applied together in one transaction
 * at the end of the current turn of the event loop (`flushAcks`), since an
 * acknowledgement lost in a crash only causes a harmless resend. When the
 * state file cannot be written (disk full, I/O error, read-only), the acks
 * stay queued and are retried every `ackRetryMs` and on the next flush; a
 * failed flush never throws.
 */
export interface Outbox {
  /** Stores an alert revision; returns false when an equal or newer revision is already pending. */
  putAlert(alert: Alert): boolean;
  /** Stores several alert revisions in one transaction (one disk sync); returns those stored. */
  putAlerts(alerts: readonly Alert[]): Alert[];
  /** Stores (or replaces) the result of an action. */
  putResult(result: ActionResult): void;
  /** Queues the removal of an alert whose revision ≤ `revision` is pending. */
  ackAlert(alertId: string, revision: number): void;
  /** Queues the removal of an action's result. */
  ackResult(actionId: string): void;
  /** Applies queued acknowledgements now; false when they could not be written (they stay queued). */
  flushAcks(): boolean;
  /** Acknowledgements waiting to be written. */
  queuedAcks(): number;
  /** The pending alert with this id, if any. */
  getAlert(alertId: string): Alert | undefined;
  /** Removes a pending alert whose revision is ≤ `revision` now (no batching); true when one was removed. */
  removeAlert(alertId: string, revision: number): boolean;
  /** Removes a pending result now (no batching). */
  removeResult(actionId: string): void;
  /** Stops the ack retry timer. */
  stop(): void;
  /** Everything pending, oldest first. */
  pending(): OutboxEntry[];
  /** Up to `limit` pending entries with seq > `afterSeq`, oldest first (to resend a large outbox in pages). */
  page(afterSeq: number, limit: number): OutboxEntry[];
  /** The seq of the newest pending entry; 0 when empty. */
  lastSeq(): number;
  /** Action ids whose results are pending. */
  pendingResultIds(): string[];
  /** Number of pending entries. */
  depth(): number;
}

export interface OutboxDeps {
  db: Db;
  now: () => number;
  /** Logs ack write failures. Default: silent. */
  logger?: Logger;
  /** How long to wait before retrying acks that could not be written. Default: 1000 ms. */
  ackRetryMs?: number;
}

interface Row {
  seq: number;
  kind: "alert" | "result";
  payload: Buffer;
}

export function createOutbox({ db, now, logger, ackRetryMs = 1_000 }: OutboxDeps): Outbox {
  const selectRevision: Statement<[string], { revision: number }> = db.prepare("SELECT revision FROM outbox WHERE kind = 'alert' AND key = ?");
  const deleteKey = db.prepare("DELETE FROM outbox WHERE kind = ? AND key = ?");
  const insert = db.prepare("INSERT INTO outbox (kind, key, revision, payload, created_at) VALUES (?, ?, ?, ?, ?)");
  const deleteAlertUpTo = db.prepare("DELETE FROM outbox WHERE kind = 'alert' AND key = ? AND revision <= ?");
  const selectAll: Statement<[], Row> = db.prepare("SELECT seq, kind, payload FROM outbox ORDER BY seq");
  const selectPage: Statement<[number, number], Row> = db.prepare("SELECT seq, kind, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
  const selectLastSeq: Statement<[], { seq: number | null }> = db.prepare("SELECT MAX(seq) AS seq FROM outbox");
  const selectResultIds: Statement<[], { key: string }> = db.prepare("SELECT key FROM outbox WHERE kind = 'result' ORDER BY seq");
  const count: Statement<[], { n: number }> = db.prepare("SELECT COUNT(*) AS n FROM outbox");
  const selectAlert: Statement<[string], { payload: Buffer }> = db.prepare("SELECT payload FROM outbox WHERE kind = 'alert' AND key = ?");

  const putAlertTx = db.transaction((alert: Alert): boolean => {
    const existing = selectRevision.get(alert.id);
    if (existing && existing.revision >= alert.revision) return false;
    if (existing) deleteKey.run("alert", alert.id);
    insert.run("alert", alert.id, alert.revision, Buffer.from(toBinary(AlertSchema, alert)), now());
    return true;
  });
  const putAlertsTx = db.transaction((alerts: readonly Alert[]): Alert[] => alerts.filter((alert) => putAlertTx(alert)));
  const putResultTx = db.transaction((result: ActionResult) => {
    deleteKey.run("result", result.actionId);
    insert.run("result", result.actionId, 0, Buffer.from(toBinary(ActionResultSchema, result)), now());
  });

  const applyAcks = db.transaction((alerts: Map<string, number>, results: Set<string>) => {
    for (const [id, revision] of alerts) deleteAlertUpTo.run(id, revision);
    for (const id of results) deleteKey.run("result", id);
  });
  const acks = createAckBatch({ apply: (alerts, results) => applyAcks(alerts, results), isOpen: () => db.open, logger, retryMs: ackRetryMs });
  const flushAcks = (): boolean => acks.flush();

  return {
    putAlert: (alert) => putAlertTx(alert),
    putAlerts: (alerts) => putAlertsTx(alerts),
    putResult: (result) => putResultTx(result),
    ackAlert: (alertId, revision) => acks.ackAlert(alertId, revision),
    ackResult: (actionId) => acks.ackResult(actionId),
    flushAcks,
    queuedAcks: () => acks.size(),
    getAlert(alertId) {
      const row = selectAlert.get(alertId);
      return row ? fromBinary(AlertSchema, row.payload) : undefined;
    },
    removeAlert: (alertId, revision) => deleteAlertUpTo.run(alertId, revision).changes > 0,
    removeResult(actionId) {
      deleteKey.run("result", actionId);
    },
    stop: () => acks.stop(),
    pending() {
      flushAcks();
      return selectAll.all().map(toEntry);
    },
    page(afterSeq, limit) {
      flushAcks();
      return selectPage.all(afterSeq, limit).map(toEntry);
    },
    lastSeq() {
      flushAcks();
      return selectLastSeq.get()?.seq ?? 0;
    },
    pendingResultIds() {
      flushAcks();
      return selectResultIds.all().map((row) => row.key);
    },
    depth() {
      flushAcks();
      return count.get()!.n;
    },
  };
}

function toEntry(row: Row): OutboxEntry {
  return row.kind === "alert"
    ? { kind: "alert", seq: row.seq, alert: fromBinary(AlertSchema, row.payload) }
    : { kind: "result", seq: row.seq, result: fromBinary(ActionResultSchema, row.payload) };
}
