import type { Database as Db, Statement } from "better-sqlite3";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ActionResultSchema,
  Answer,
  ResponseActionSchema,
  ResultStatus,
  type ActionResult,
  type ResponseAction,
} from "../../gen/secarc/v1/action_pb.js";

/** What the journal knows about one action id. */
export type JournalEntry =
  | { state: "begun"; action: ResponseAction; bootId: string; begunAt: number }
  | { state: "finished"; action: ResponseAction; result: ActionResult; begunAt: number; finishedAt: number };

/**
 * The action journal: the agent's memory of which actions it has started and
 * how they ended, so that no action runs twice.
 *
 * - `begin` is written (durably) BEFORE the action runs.
 * - `finish` stores the result; a redelivered action is answered from it.
 * - An action begun but never finished means the agent stopped while it ran
 *   (a crash, a kill, or the reboot it was asked for). It is never run again;
 *   `recover` turns each such entry into a result that tells the best truth
 *   (see `recoveredResult`).
 *
 * Finished entries are kept after the controller acknowledges their result,
 * and pruned after a retention period, so that a late redelivery is still
 * answered from the journal.
 */
export interface Journal {
  get(actionId: string): JournalEntry | undefined;
  /** Records that the action is about to run; false if the id is already in the journal. */
  begin(action: ResponseAction): boolean;
  /** Stores the action's result; `alsoDo` runs in the same transaction (e.g. the outbox write). */
  finish(result: ActionResult, alsoDo?: () => void): void;
  /** Notes that the controller stored the result. */
  markAcked(actionId: string): void;
  /**
   * Finishes every action left begun by an earlier run of the agent, with
   * the result `recoveredResult` gives; `alsoDo` runs for each in the same
   * transaction. Returns the results.
   */
  recover(alsoDo?: (result: ActionResult) => void): ActionResult[];
  /** Deletes acknowledged entries finished before `beforeMs`; returns how many. */
  prune(beforeMs: number): number;
}

export interface JournalDeps {
  db: Db;
  now: () => number;
  /** The current boot's id (Linux: /proc/sys/kernel/random/boot_id); tells whether the host rebooted. */
  bootId: string;
}

interface Row {
  action: Buffer;
  boot_id: string;
  begun_at: number;
  result: Buffer | null;
  finished_at: number | null;
}

const POWER_ANSWERS = new Set<Answer>([Answer.REBOOT, Answer.SHUTDOWN]);

/**
 * The result reported for an action that was begun by an earlier run of the
 * agent and never finished:
 * - REBOOT or SHUTDOWN, and the host has booted since (boot id changed):
 *   the power action happened → DONE.
 * - anything else, or a power action while the host is still in the same
 *   boot: the agent cannot tell how far it got → FAILED, "outcome unknown".
 *   It is not run again: an operator may answer the alert anew.
 */
export function recoveredResult(entry: { action: ResponseAction; bootId: string }, currentBootId: string, now: number): ActionResult {
  const rebooted = entry.bootId !== currentBootId;
  const power = POWER_ANSWERS.has(entry.action.answer);
  const done = power && rebooted;
  const detail = done
    ? entry.action.answer === Answer.REBOOT
      ? "rebooted"
      : "shut down (the host has booted again since)"
    : "outcome unknown: agent restarted during execution; not run again";
  return create(ActionResultSchema, {
    actionId: entry.action.actionId,
    status: done ? ResultStatus.DONE : ResultStatus.FAILED,
    detail,
    finishedAt: timestampFromMs(now),
  });
}

export function createJournal({ db, now, bootId }: JournalDeps): Journal {
  const select: Statement<[string], Row> = db.prepare("SELECT action, boot_id, begun_at, result, finished_at FROM journal WHERE action_id = ?");
  const insert = db.prepare("INSERT OR IGNORE INTO journal (action_id, answer, action, boot_id, begun_at) VALUES (?, ?, ?, ?, ?)");
  const setResult = db.prepare("UPDATE journal SET result = ?, finished_at = ? WHERE action_id = ?");
  const setAcked = db.prepare("UPDATE journal SET acked_at = ? WHERE action_id = ? AND acked_at IS NULL");
  const selectUnfinished: Statement<[], Row & { action_id: string }> = db.prepare(
    "SELECT action_id, action, boot_id, begun_at, result, finished_at FROM journal WHERE finished_at IS NULL ORDER BY begun_at",
  );
  const deleteOld = db.prepare("DELETE FROM journal WHERE acked_at IS NOT NULL AND finished_at < ?");

  const finishTx = db.transaction((result: ActionResult, alsoDo?: () => void) => {
    setResult.run(Buffer.from(toBinary(ActionResultSchema, result)), now(), result.actionId);
    alsoDo?.();
  });

  const recoverTx = db.transaction((alsoDo?: (result: ActionResult) => void): ActionResult[] => {
    const results: ActionResult[] = [];
    for (const row of selectUnfinished.all()) {
      const action = fromBinary(ResponseActionSchema, row.action);
      const result = recoveredResult({ action, bootId: row.boot_id }, bootId, now());
      setResult.run(Buffer.from(toBinary(ActionResultSchema, result)), now(), row.action_id);
      alsoDo?.(result);
      results.push(result);
    }
    return results;
  });

  return {
    get(actionId) {
      const row = select.get(actionId);
      if (!row) return undefined;
      const action = fromBinary(ResponseActionSchema, row.action);
      if (row.result === null || row.finished_at === null) return { state: "begun", action, bootId: row.boot_id, begunAt: row.begun_at };
      return { state: "finished", action, result: fromBinary(ActionResultSchema, row.result), begunAt: row.begun_at, finishedAt: row.finished_at };
    },
    begin(action) {
      return insert.run(action.actionId, action.answer, Buffer.from(toBinary(ResponseActionSchema, action)), bootId, now()).changes === 1;
    },
    finish: (result, alsoDo) => finishTx(result, alsoDo),
    markAcked(actionId) {
      setAcked.run(now(), actionId);
    },
    recover: (alsoDo) => recoverTx(alsoDo),
    prune(beforeMs) {
      return deleteOld.run(beforeMs).changes;
    },
  };
}
