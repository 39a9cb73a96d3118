import type { ActionOptions, ActionTarget, Answer, Operator } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord } from "../store/store.js";

/** An operator's request, as the Telegram bridge (or another view) makes it. */
export interface ActionRequest {
  agentId: string;
  /** The alert answered; undefined for e.g. an unblock from /blocks. */
  alertId: string | undefined;
  answer: Answer;
  operator: Operator;
  options?: ActionOptions;
  /** Defaults to the target derived from the alert's subject. */
  target?: ActionTarget;
}

export type ActionRequestOutcome =
  | { ok: true; action: ActionRecord; delivered: boolean }
  | { ok: false; reason: "unknown_alert" | "unknown_agent" | "unsupported" | "already_answered" | "resolved"; detail: string; existing?: ActionRecord };

/**
 * The one way a view asks an agent to act: the action is stored first, then
 * sent if the agent is online (otherwise on its next connect).
 */
export interface ActionRequests {
  request(input: ActionRequest): ActionRequestOutcome;
}
