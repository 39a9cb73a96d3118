import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { AlertRejectReason, ResultRejectReason, type AlertReject, type ResultReject } from "../../gen/secarc/v1/agent_service_pb.js";
import type { DeadLetter } from "./dead-letter.js";
import type { Outbox } from "./outbox.js";
import type { OutboxWriter } from "./outbox-writer.js";

export interface RejectHandler {
  /** The controller refused an alert revision: it leaves the outbox for the dead-letter file. */
  alert(reject: AlertReject): void;
  /** The controller refused a result: it leaves the outbox (the journal keeps it) for the dead-letter file. */
  result(reject: ResultReject): void;
  /** Rejections received since start. */
  counts(): { alerts: number; results: number };
}

export interface RejectHandlerDeps {
  outbox: Outbox;
  writer: OutboxWriter;
  deadLetter: DeadLetter;
  /** Drops an acknowledged (here: rejected) result from the outbox and marks it in the journal. */
  forgetResult(actionId: string): void;
  logger: Logger;
}

/**
 * What the agent does with AlertReject / ResultReject: log (error), count,
 * keep the message in the dead-letter file (synced) and take it out of the
 * outbox, so the next reconnect does not send it again. A newer revision of
 * a rejected alert stays pending (it may be valid). When the dead-letter
 * file cannot be written the message stays in the outbox and is rejected
 * again on the next stream: nothing is lost, nothing is stuck.
 */
export function createRejectHandler(deps: RejectHandlerDeps): RejectHandler {
  const { outbox, writer, deadLetter, logger } = deps;
  let alerts = 0;
  let results = 0;
  return {
    alert(reject) {
      alerts += 1;
      const reason = (AlertRejectReason[reject.reason] ?? String(reject.reason)).toLowerCase();
      const pending = outbox.getAlert(reject.alertId) ?? writer.heldAlert(reject.alertId);
      logger.error(
        { alertId: reject.alertId, revision: reject.revision, reason, detail: reject.detail, deadLetter: deadLetter.path },
        `the controller rejected alert ${reject.alertId} (${reason}): ${reject.detail}; moved to the dead-letter file`,
      );
      if (pending && pending.revision > reject.revision) return;
      try {
        deadLetter.write({ what: "alert", id: reject.alertId, revision: reject.revision, reason, detail: reject.detail, alert: pending });
      } catch (err) {
        logger.error({ alertId: reject.alertId, err: describeError(err) }, "the dead-letter file cannot be written; the rejected alert stays in the outbox");
        return;
      }
      writer.acked(reject.alertId, reject.revision);
      try {
        outbox.removeAlert(reject.alertId, reject.revision);
      } catch (err) {
        logger.error({ alertId: reject.alertId, err: describeError(err) }, "the rejected alert could not be removed from the outbox");
      }
    },
    result(reject) {
      results += 1;
      const reason = (ResultRejectReason[reject.reason] ?? String(reject.reason)).toLowerCase();
      logger.error({ actionId: reject.actionId, reason, detail: reject.detail, deadLetter: deadLetter.path }, `the controller rejected the result of action ${reject.actionId} (${reason}): ${reject.detail}`);
      const pending = outbox.pending().find((entry) => entry.kind === "result" && entry.result.actionId === reject.actionId);
      try {
        deadLetter.write({ what: "result", id: reject.actionId, reason, detail: reject.detail, result: pending?.kind === "result" ? pending.result : undefined });
      } catch (err) {
        logger.error({ actionId: reject.actionId, err: describeError(err) }, "the dead-letter file cannot be written; the rejected result stays in the outbox");
        return;
      }
      deps.forgetResult(reject.actionId);
    },
    counts: () => ({ alerts, results }),
  };
}
