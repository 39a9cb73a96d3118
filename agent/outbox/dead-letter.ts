import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { ActionResultSchema, type ActionResult } from "../../gen/secarc/v1/action_pb.js";
import { AlertSchema, type Alert } from "../../gen/secarc/v1/alert_pb.js";

/** The file, inside the agent's stateDir, that keeps what the controller rejected. */
export const DEAD_LETTER_FILE = "dead-letter.jsonl";

/** One rejected message, as kept for the operator. */
export interface DeadLetterEntry {
  what: "alert" | "result";
  /** The alert id or action id. */
  id: string;
  revision?: number;
  /** The controller's reason code, as a name ("invalid", "foreign_id", ...). */
  reason: string;
  detail: string;
  alert?: Alert | undefined;
  result?: ActionResult | undefined;
}

export interface DeadLetter {
  readonly path: string;
  /** Appends one entry, synced to disk when it returns; throws when it cannot be written. */
  write(entry: DeadLetterEntry): void;
  /** Entries written by this process. */
  count(): number;
}

/**
 * The dead-letter file: one JSON object per line (`at`, `what`, `id`,
 * `revision`, `reason`, `detail`, and the message itself in proto JSON).
 * What the controller rejects would be rejected on every resend, so it
 * leaves the outbox for this file, where the operator can read it; the
 * rest of the outbox keeps flowing.
 */
export function createDeadLetter(stateDir: string, now: () => number): DeadLetter {
  const path = join(stateDir, DEAD_LETTER_FILE);
  let written = 0;
  return {
    path,
    write(entry) {
      const line = JSON.stringify({
        at: new Date(now()).toISOString(),
        what: entry.what,
        id: entry.id,
        ...(entry.revision !== undefined ? { revision: entry.revision } : {}),
        reason: entry.reason,
        detail: entry.detail,
        ...(entry.alert ? { alert: toJson(AlertSchema, entry.alert) } : {}),
        ...(entry.result ? { result: toJson(ActionResultSchema, entry.result) } : {}),
      });
      const fd = openSync(path, "a", 0o600);
      try {
        writeSync(fd, `${line}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      written += 1;
    },
    count: () => written,
  };
}
