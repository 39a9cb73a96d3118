import { create, toBinary } from "@bufbuild/protobuf";
import { AgentMessageSchema, type AgentMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { AlertKind, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { SecarcError } from "../common/errors.js";
import type { AlertMute } from "./alert-mute.js";
import type { OutboxWriter } from "./outbox/outbox-writer.js";

/** An alert as a link message. */
export function alertMessage(alert: Alert): AgentMessage {
  return create(AgentMessageSchema, { payload: { case: "alert", value: alert } });
}

export interface AlertIntakeDeps {
  /** link.maxMessageBytes: an alert larger than this as a message is refused. */
  maxMessageBytes: number;
  mute: Pick<AlertMute, "muted">;
  writer: Pick<OutboxWriter, "queue">;
  /** Whether the agent is stopping (no alert accepted any more). */
  closing(): boolean;
}

/**
 * The agent's `emit`: an alert without id or kind, too large, or offered
 * while the agent stops is refused (throws input_invalid / unavailable); an
 * alert about an allowed address is muted (counted, logged at debug);
 * every other one is queued for the outbox.
 */
export function createAlertIntake(deps: AlertIntakeDeps): (alert: Alert) => void {
  return (alert) => {
    if (!alert.id) throw new SecarcError("input_invalid", "alert without id");
    if (alert.kind === AlertKind.UNSPECIFIED) throw new SecarcError("input_invalid", `alert ${alert.id} without kind`);
    const size = toBinary(AgentMessageSchema, alertMessage(alert)).byteLength;
    if (size > deps.maxMessageBytes) {
      throw new SecarcError("input_invalid", `alert ${alert.id} is ${size} bytes, above link.maxMessageBytes ${deps.maxMessageBytes}`);
    }
    if (deps.closing()) throw new SecarcError("unavailable", `agent is stopping; alert ${alert.id} not accepted`);
    // The one place alerts are muted (an allowed address): counted and logged at debug, never queued.
    if (deps.mute.muted(alert)) return;
    deps.writer.queue(alert);
  };
}
