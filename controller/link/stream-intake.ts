import type { MessageInitShape } from "@bufbuild/protobuf";
import { describeError, isSecarcError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ActionResult } from "../../gen/secarc/v1/action_pb.js";
import { AlertRejectReason, ResultRejectReason, type ControllerMessageSchema } from "../../gen/secarc/v1/agent_service_pb.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { EventBus } from "../domain/events.js";
import type { AlertPrefetchPayload, BatchPrefetch, Prefetched, StoreOperations } from "../store/store.js";
import { alertRejectLabel, checkAlert } from "./alert-rules.js";

type Payload = MessageInitShape<typeof ControllerMessageSchema>["payload"];

export interface StreamIntakeDeps {
  events: EventBus;
  log: Logger;
  /** Queues a message on the stream. */
  send(payload: Payload): void;
  /** Runs a store write in the link's group commit, then `then` with its result after the commit. */
  track<T>(write: (tx: StoreOperations) => Promise<T>, then: (value: T) => void, prefetched?: readonly Prefetched[]): void;
  /** The store's way to insert a group commit's alerts together (PostgreSQL). Default: none, each alert its own insert. */
  alertPrefetch?: BatchPrefetch<AlertPrefetchPayload> | undefined;
}

export interface StreamIntake {
  /** Checks, stores and acks an alert, or rejects it with an AlertReject. `body`: its bytes as received, stored as they are. */
  alert(agentId: string, alert: Alert, at: Date, body?: Uint8Array): void;
  /** Stores and acks a result of this agent's action, or rejects (and audits) it with a ResultReject. */
  result(agentId: string, result: ActionResult, at: Date): void;
  /** An alert whose bytes did not decode. */
  malformedAlert(agentId: string, alertId: string, revision: number, detail: string): void;
  /** A result whose bytes did not decode. */
  malformedResult(agentId: string, actionId: string, detail: string, at: Date): void;
}

const resultRejectLabel = (reason: ResultRejectReason): string => (ResultRejectReason[reason] ?? String(reason)).toLowerCase();

/**
 * What a live session does with the alerts and results an agent sends.
 * Nothing one message carries ends the stream: a message the controller
 * cannot accept is answered with a reject naming it, logged and counted
 * (a `rejected` event, which the metrics count), and the next message is
 * read. Only store failures end the stream (the agent keeps what was not
 * acked and resends it on its next stream).
 */
export function createStreamIntake(deps: StreamIntakeDeps): StreamIntake {
  const { events, log, send, track } = deps;

  const rejectAlert = (agentId: string, alertId: string, revision: number, reason: AlertRejectReason, detail: string): void => {
    const label = alertRejectLabel(reason);
    log.warn({ agentId, alertId, revision, reason: label, detail }, `alert rejected (${label}): ${detail}`);
    events.publish({ type: "rejected", what: "alert", agentId, reason: label });
    send({ case: "alertReject", value: { alertId, revision, reason, detail } });
  };

  const rejectResult = (agentId: string, actionId: string, reason: ResultRejectReason, detail: string): void => {
    const label = resultRejectLabel(reason);
    log.warn({ agentId, actionId, reason: label, detail, suspicious: true }, `action result rejected (${label}): ${detail}`);
    events.publish({ type: "rejected", what: "result", agentId, reason: label });
    send({ case: "resultReject", value: { actionId, reason, detail } });
  };

  const auditResult = (tx: StoreOperations, agentId: string, at: Date, detail: string): Promise<void> =>
    tx.audit({ at, actor: `agent:${agentId}`, event: "link.result_rejected", detail: `suspicious: ${detail}` });

  return {
    alert(agentId, alert, at, body) {
      const rejection = checkAlert(alert);
      if (rejection) {
        rejectAlert(agentId, alert.id, alert.revision, rejection.reason, rejection.detail);
        return;
      }
      track(
        async (tx) => {
          try {
            return { kind: "stored" as const, stored: await tx.upsertAlert(agentId, alert, at, body) };
          } catch (err) {
            // The savepoint of upsertAlert is rolled back; the audit row is its own write.
            if (!isSecarcError(err, "refused")) throw err;
            await tx.audit({ at, actor: `agent:${agentId}`, event: "link.alert_rejected", detail: `suspicious: ${describeError(err)}` });
            return { kind: "refused" as const, refused: describeError(err) };
          }
        },
        (outcome) => {
          if (outcome.kind === "refused") {
            rejectAlert(agentId, alert.id, alert.revision, AlertRejectReason.FOREIGN_ID, outcome.refused);
            return;
          }
          if (outcome.stored.outcome !== "unchanged") events.publish({ type: "alert", alertId: alert.id, agentId, outcome: outcome.stored.outcome, kind: alert.kind, severity: alert.severity });
          send({ case: "alertAck", value: { alertId: alert.id, revision: alert.revision } });
        },
        deps.alertPrefetch && [{ prefetch: deps.alertPrefetch, payload: { agentId, alert, at, body } }],
      );
    },

    result(agentId, result, at) {
      track(
        async (tx) => {
          const action = result.actionId ? await tx.getAction(result.actionId) : undefined;
          if (!action) {
            const detail = `a result for action "${result.actionId}", which this controller never sent`;
            await auditResult(tx, agentId, at, detail);
            return { kind: "rejected" as const, reason: ResultRejectReason.UNKNOWN_ACTION, detail };
          }
          if (action.agentId !== agentId) {
            const detail = `a result for action ${result.actionId}, which was sent to agent ${action.agentId}`;
            await auditResult(tx, agentId, at, detail);
            return { kind: "rejected" as const, reason: ResultRejectReason.FOREIGN_ACTION, detail };
          }
          return { kind: "recorded" as const, recorded: await tx.recordResult(agentId, result, at), alertId: action.alertId };
        },
        (outcome) => {
          if (outcome.kind === "rejected") {
            rejectResult(agentId, result.actionId, outcome.reason, outcome.detail);
            return;
          }
          if (outcome.recorded) {
            events.publish({ type: "action", actionId: result.actionId, alertId: outcome.alertId, agentId });
            log.info({ actionId: result.actionId, status: result.status }, "action result recorded");
          }
          send({ case: "resultAck", value: { actionId: result.actionId } });
        },
      );
    },

    malformedAlert(agentId, alertId, revision, detail) {
      rejectAlert(agentId, alertId, revision, AlertRejectReason.MALFORMED, detail);
    },

    malformedResult(agentId, actionId, detail, at) {
      track(
        (tx) => auditResult(tx, agentId, at, `action ${actionId || "(unreadable id)"}: ${detail}`),
        () => rejectResult(agentId, actionId, ResultRejectReason.MALFORMED, detail),
      );
    },
  };
}
