import type { Logger } from "../common/log.js";
import { createJournal, type Journal } from "./journal/journal.js";
import { createOutbox, type Outbox } from "./outbox/outbox.js";
import { openStateDb } from "./outbox/state-db.js";

/** Finished actions whose results the controller acknowledged are forgotten after this long. */
export const JOURNAL_RETENTION_MS = 30 * 86_400_000;

/** The agent's state file (STATE_DIR/state.db): the outbox and the action journal. */
export interface AgentState {
  db: ReturnType<typeof openStateDb>;
  outbox: Outbox;
  journal: Journal;
  /** Runs a start-up step; on failure the state file is closed before the error propagates. */
  step<T>(fn: () => T): T;
}

/**
 * Opens the state file, reports actions an earlier run left unfinished
 * (never executed again: their result says so) and prunes old journal
 * entries.
 */
export function openAgentState(stateDir: string, deps: { now: () => number; logger: Logger; bootId: string }): AgentState {
  const { now, logger, bootId } = deps;
  const db = openStateDb(stateDir);
  const step = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      db.close();
      throw err;
    }
  };
  const outbox = createOutbox({ db, now, logger });
  const journal = createJournal({ db, now, bootId });
  for (const result of step(() => journal.recover((r) => outbox.putResult(r)))) {
    logger.warn({ actionId: result.actionId, detail: result.detail }, "action left unfinished by the previous run; not executing again");
  }
  const pruned = step(() => journal.prune(now() - JOURNAL_RETENTION_MS));
  if (pruned > 0) logger.debug({ pruned }, "old journal entries pruned");
  return { db, outbox, journal, step };
}
