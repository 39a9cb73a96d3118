import { AlertRejectReason } from "../../gen/secarc/v1/agent_service_pb.js";
import { AlertKind, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { isControllerOnlyAlert } from "../domain/controller-alerts.js";

/** Why an alert is refused: the AlertReject's reason and detail. */
export interface AlertRejection {
  reason: AlertRejectReason;
  detail: string;
}

const isListed = (values: object, value: number): boolean => Object.values(values).includes(value);

/**
 * The rules of Alert (see alert.proto) the controller enforces before it
 * stores anything. An alert that breaks one is answered with an AlertReject
 * and the stream goes on: the same bytes would be refused on every resend.
 * Kinds the controller does not know (an agent newer than it) are accepted
 * and shown with their summary; the subject is required for known kinds.
 */
export function checkAlert(alert: Alert): AlertRejection | undefined {
  const invalid = (detail: string): AlertRejection => ({ reason: AlertRejectReason.INVALID, detail });
  if (!alert.id) return invalid("the alert has no id");
  if (alert.revision < 1) return invalid(`revision ${alert.revision}: revisions start at 1`);
  if (alert.kind === AlertKind.UNSPECIFIED) return invalid("the alert has no kind");
  if (isControllerOnlyAlert(alert)) {
    const what = alert.subject.case === "agentOffline" || alert.subject.case === "detectorBlind" ? `subject ${alert.subject.case}` : `kind ${AlertKind[alert.kind]}`;
    return { reason: AlertRejectReason.CONTROLLER_ONLY, detail: `alerts with ${what} are the controller's own; an agent may not send one` };
  }
  if (alert.severity === Severity.UNSPECIFIED || !isListed(Severity, alert.severity)) return invalid(`severity ${alert.severity} is not a Severity (1 info, 2 warning, 3 critical)`);
  if (!isListed(AlertState, alert.state)) return invalid(`state ${alert.state} is not an AlertState (1 open, 2 resolved)`);
  if (!alert.detectedAt) return invalid("the alert has no detected_at");
  if (isListed(AlertKind, alert.kind) && alert.subject.case === undefined) return invalid(`the alert has no subject for kind ${AlertKind[alert.kind]}`);
  return undefined;
}

/** Short label of a reject reason for logs and metrics ("invalid", "foreign_id", ...). */
export function alertRejectLabel(reason: AlertRejectReason): string {
  return (AlertRejectReason[reason] ?? String(reason)).toLowerCase();
}
