import { AlertKind, type Alert } from "../../gen/secarc/v1/alert_pb.js";

/**
 * Alerts the controller raises itself (an agent offline, a detector blind).
 * An agent may never send one: the link rejects it (AlertReject).
 */
export function isControllerOnlyAlert(alert: Alert): boolean {
  return (
    alert.kind === AlertKind.AGENT_OFFLINE ||
    alert.kind === AlertKind.DETECTOR_BLIND ||
    alert.subject.case === "agentOffline" ||
    alert.subject.case === "detectorBlind"
  );
}
