import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ActionResultSchema, Answer, ResultStatus, type ActionResult, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { Outbox } from "../outbox/outbox.js";
import type { ResponderResult, Responder } from "../responders/responder.js";
import { recoveredResult, type Journal } from "./journal.js";

/**
 * Carries out each ResponseAction exactly once:
 *
 *   journal.begin (durable) → responder.execute → journal.finish + outbox
 *   (one transaction) → send → (ResultAck) outbox drop.
 *
 * A redelivered action is answered from the journal: a finished one with its
 * stored result, one still running in this process not at all (its result
 * follows), one begun by an earlier run with `recoveredResult`. An answer
 * with no responder is REFUSED; a responder that throws (they must not)
 * yields FAILED.
 */
export interface ActionExecutor {
  /** Handles a ResponseAction from the controller; resolves when its result is stored. */
  handle(action: ResponseAction): Promise<void>;
  /** The controller stored the result: drop it from the outbox, note it in the journal. */
  acknowledged(actionId: string): void;
  /** Actions running now. */
  running(): number;
  /** Resolves when no action is running, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void>;
}

export interface ActionExecutorDeps {
  journal: Journal;
  outbox: Outbox;
  responders: ReadonlyMap<Answer, Responder>;
  /** Sends a stored result if the link is up (otherwise the outbox resends it on reconnect). */
  send(result: ActionResult): void;
  /** The current boot id, for actions begun by an earlier run. */
  bootId: string;
  logger: Logger;
  now: () => number;
}

export function createActionExecutor(deps: ActionExecutorDeps): ActionExecutor {
  const { journal, outbox, responders, logger, now } = deps;
  const inFlight = new Map<string, Promise<void>>();
  const unmarked = new Set<string>();

  const store = (result: ActionResult): void => {
    journal.finish(result, () => outbox.putResult(result));
  };

  const run = async (action: ResponseAction): Promise<void> => {
    const log = logger.child({ actionId: action.actionId, answer: Answer[action.answer] ?? action.answer, alertId: action.alertId || undefined });
    log.info("executing action");
    const result = toActionResult(action, await runResponder(responders, action, logger), now());
    store(result);
    log.info({ status: ResultStatus[result.status], detail: result.detail }, "action finished");
    deps.send(result);
  };

  return {
    async handle(action) {
      if (!action.actionId) {
        logger.warn("ResponseAction without action_id; ignored");
        return;
      }
      const running = inFlight.get(action.actionId);
      if (running) {
        logger.debug({ actionId: action.actionId }, "action redelivered while running; its result follows");
        return running;
      }
      const entry = journal.get(action.actionId);
      if (entry?.state === "finished") {
        logger.info({ actionId: action.actionId }, "action redelivered; resending the stored result, not executing again");
        outbox.putResult(entry.result);
        deps.send(entry.result);
        return;
      }
      if (entry?.state === "begun") {
        const result = recoveredResult(entry, deps.bootId, now());
        logger.warn({ actionId: action.actionId, detail: result.detail }, "action begun by an earlier run; not executing again");
        store(result);
        deps.send(result);
        return;
      }
      if (!journal.begin(action)) return this.handle(action);
      const promise = run(action).finally(() => inFlight.delete(action.actionId));
      inFlight.set(action.actionId, promise);
      return promise;
    },
    acknowledged(actionId) {
      outbox.ackResult(actionId);
      unmarked.add(actionId);
      // A mark that cannot be written (disk full) is retried with the next
      // acknowledgement; until then the entry is only kept longer.
      for (const id of unmarked) {
        try {
          journal.markAcked(id);
          unmarked.delete(id);
        } catch (err) {
          logger.warn({ actionId: id, err: describeError(err), waiting: unmarked.size }, "the journal could not record an acknowledged result; retried with the next one");
          break;
        }
      }
    },
    running: () => inFlight.size,
    async idle(timeoutMs) {
      if (inFlight.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight.values()]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}

/** Runs the action's responder; an unknown answer is refused, a throw or a missing status is a failure. */
async function runResponder(responders: ReadonlyMap<Answer, Responder>, action: ResponseAction, logger: Logger): Promise<ResponderResult> {
  const responder = action.answer === Answer.UNSPECIFIED ? undefined : responders.get(action.answer);
  if (!responder) {
    return { status: ResultStatus.REFUSED, detail: `refused: answer ${Answer[action.answer] ?? action.answer} is not supported by this agent` };
  }
  try {
    const result = await responder.execute(action);
    if (result.status === ResultStatus.UNSPECIFIED || ResultStatus[result.status] === undefined) {
      return { status: ResultStatus.FAILED, detail: `responder ${responder.name} returned no status` };
    }
    return result;
  } catch (err) {
    logger.error({ actionId: action.actionId, responder: responder.name, err: describeError(err) }, "responder threw");
    return { status: ResultStatus.FAILED, detail: `failed: ${describeError(err)}` };
  }
}

/** The ActionResult sent to the controller for a responder's result. */
function toActionResult(action: ResponseAction, ended: ResponderResult, finishedAtMs: number): ActionResult {
  return create(ActionResultSchema, {
    actionId: action.actionId,
    status: ended.status,
    detail: ended.detail,
    finishedAt: timestampFromMs(finishedAtMs),
    dryRun: ended.dryRun ?? false,
    expiresAt: ended.expiresAt ? timestampFromDate(ended.expiresAt) : undefined,
    networks: ended.networks ?? [],
  });
}
