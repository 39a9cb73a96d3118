import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { AgentMessage, ControllerMessageSchema } from "../../gen/secarc/v1/agent_service_pb.js";
import type { StoreOperations } from "../store/store.js";

/** One step of a test alert's delivery past the controller, for a ProbeReport. */
export interface ProbeHopInit {
  name: string;
  target: string;
  ok: boolean;
  detail: string;
  durationMs: number;
}

/**
 * Delivers a probe session's test alert past the controller (the Telegram
 * bridge) and resolves to its hops once each has succeeded or failed.
 */
export type ProbeDelivery = (input: { agentId: string; alertId: string; receivedAt: number }) => Promise<ProbeHopInit[]>;

/** How long a probe session may stay open. */
export const PROBE_SESSION_MAX_MS = 60_000;

export interface ProbeHandlerDeps {
  log: Logger;
  now: () => number;
  sessionId: string;
  send(payload: MessageInitShape<typeof ControllerMessageSchema>["payload"]): void;
  track<T>(write: (tx: StoreOperations) => Promise<T>, then: (value: T) => void): void;
  refuse(code: Code, reason: string): never;
  isClosed(): boolean;
  /** Where test alerts go. Default: a "telegram" hop that says "not configured". */
  probe?: ProbeDelivery;
  /** Heartbeats, second Hellos and empty messages, handled as on live sessions. */
  handleCommon(message: AgentMessage): void;
}

/** A probe session's messages: test alerts are audited, acked, delivered and reported. */
export function createProbeHandler(deps: ProbeHandlerDeps): (message: AgentMessage, agentId: string) => void {
  const { log, now, sessionId, send, track, refuse } = deps;
  return (message, agentId) => {
    const at = new Date(now());
    switch (message.payload.case) {
      case "alert": {
        const { id: alertId, revision } = message.payload.value;
        if (!alertId) refuse(Code.InvalidArgument, "a test alert without id");
        track(
          (tx) => tx.audit({ at, actor: `agent:${agentId}`, event: "link.test_alert", detail: `test alert ${alertId} on probe session ${sessionId}` }),
          () => {
            send({ case: "alertAck", value: { alertId, revision } });
            log.info({ agentId, alertId }, "test alert received on a probe session");
            const deliver = deps.probe ?? (async () => [{ name: "telegram", target: "", ok: false, detail: "not configured", durationMs: 0 }]);
            void deliver({ agentId, alertId, receivedAt: at.getTime() })
              .catch((err: unknown) => [{ name: "telegram", target: "", ok: false, detail: `delivery failed: ${describeError(err)}`, durationMs: now() - at.getTime() }])
              .then((hops) => {
                if (deps.isClosed()) return;
                send({ case: "probeReport", value: { alertId, hops: hops.map((hop) => ({ name: hop.name, target: hop.target, ok: hop.ok, detail: hop.detail, duration: durationFromMs(hop.durationMs) })) } });
                log.info({ agentId, alertId, hops: hops.map((hop) => `${hop.name} ${hop.target}: ${hop.ok ? "ok" : "failed"} (${hop.detail})`) }, "probe report sent");
              });
          },
        );
        return;
      }
      case "actionResult":
        refuse(Code.InvalidArgument, "an action result on a probe session");
        return;
      default:
        deps.handleCommon(message);
    }
  };
}
