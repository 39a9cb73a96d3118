import { newId } from "../../common/ids.js";
import { Answer, type ActionOptions, type ActionTarget, type Operator } from "../../gen/secarc/v1/action_pb.js";
import { AlertState, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { ActionRecord, PolicyMark, Store } from "../store/store.js";
import { checkBlockTarget, localAddresses } from "./action-target.js";
import { answerNeedsTarget, deriveActionTarget } from "./answers.js";
import type { EventBus } from "./events.js";

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
  /** Set by the no-answer policy when it answers in place of a human; stored with the action. */
  policy?: PolicyMark;
  /** The action's id when the caller must know it beforehand (a fleet block's part, found again after a crash). Default: a new UUIDv7. */
  actionId?: string;
}

export type ActionRequestOutcome =
  /** `connected`: the agent is connected, to this controller or (on PostgreSQL) to another replica, which delivers it. */
  | { ok: true; action: ActionRecord; delivered: boolean; connected: boolean }
  | { ok: false; reason: "unknown_alert" | "unknown_agent" | "unsupported" | "already_answered" | "resolved"; detail: string; existing?: ActionRecord };

/**
 * The one way a view asks an agent to act: the action is stored first, then
 * sent if the agent is online (otherwise on its next connect).
 */
export interface ActionRequests {
  request(input: ActionRequest): Promise<ActionRequestOutcome>;
}

/** Hands a stored action to the agent's live stream, if it has one. */
export interface ActionDelivery {
  /** True when the action was written to a live stream (and marked sent). */
  deliver(action: ActionRecord): boolean | Promise<boolean>;
}

export interface ActionRequestsDeps {
  store: Store;
  /** The controller's own addresses, never sent as block targets. Default: this host's interface addresses. */
  controllerAddresses?: () => readonly string[];
  delivery: ActionDelivery;
  events: EventBus;
  /** The clock. Default: Date.now. */
  now?: () => number;
  /** Makes action ids. Default: UUIDv7 (common/ids.ts newId). */
  newId?: (now: number) => string;
}

/**
 * ActionRequests over the store: checks the request (the alert is this
 * agent's and open, the answer is among the alert's answers and the agent's
 * Hello.actions, the alert has no answer yet), derives the target from the
 * alert, stores the action, and only then delivers it if the agent is online.
 * An offline agent gets it on its next connect (the link sends every
 * unfinished action then).
 */
export function createActionRequests(deps: ActionRequestsDeps): ActionRequests {
  const { store, delivery, events } = deps;
  const now = deps.now ?? Date.now;
  const makeId = deps.newId ?? newId;
  const controllerAddresses = deps.controllerAddresses ?? localAddresses;

  return {
    async request(input) {
      const agent = await store.getAgent(input.agentId);
      if (!agent) return { ok: false, reason: "unknown_agent", detail: `agent ${input.agentId} has never connected` };
      let alert: Alert | undefined;
      if (input.alertId !== undefined) {
        const record = await store.getAlert(input.alertId);
        if (!record || record.agentId !== input.agentId) {
          return { ok: false, reason: "unknown_alert", detail: `alert ${input.alertId} of agent ${input.agentId} is not stored` };
        }
        const existing = (await store.listActionsForAlert(input.alertId))[0];
        if (existing) return { ok: false, reason: "already_answered", detail: `alert ${input.alertId} was already answered`, existing };
        if (record.alert.state === AlertState.RESOLVED) return { ok: false, reason: "resolved", detail: `alert ${input.alertId} is resolved` };
        if (!record.alert.answers.includes(input.answer)) {
          return { ok: false, reason: "unsupported", detail: `alert ${input.alertId} does not offer ${Answer[input.answer]}` };
        }
        alert = record.alert;
      }
      if (!agent.actions.includes(input.answer)) {
        return { ok: false, reason: "unsupported", detail: `agent ${input.agentId} cannot carry out ${Answer[input.answer]}` };
      }
      const target = input.target ?? (alert ? deriveActionTarget(alert, input.answer) : undefined);
      if (!target && answerNeedsTarget(input.answer)) {
        return { ok: false, reason: "unsupported", detail: `${Answer[input.answer]} needs a target the request does not name` };
      }
      if (input.answer === Answer.BLOCK_IP && target?.target.case === "ip") {
        // The controller checks block targets too (never loopback, link-local, the agent's or its own address ...).
        const check = checkBlockTarget(target.target.value, { agentAddresses: agent.addresses, controllerAddresses: controllerAddresses() });
        if (!check.ok) return { ok: false, reason: "unsupported", detail: `BLOCK_IP refused: ${JSON.stringify(target.target.value.slice(0, 64))} (${check.reason})` };
      }
      const at = now();
      const created = await store.createAction({
        actionId: input.actionId ?? makeId(at),
        agentId: input.agentId,
        alertId: input.alertId,
        answer: input.answer,
        operator: input.operator,
        requestedAt: new Date(at),
        options: input.options,
        target,
        ...(input.policy ? { policy: input.policy } : {}),
      });
      // Two taps at once both pass the check above; the store keeps the first.
      if (!created.created) return { ok: false, reason: "already_answered", detail: `alert ${input.alertId} was already answered`, existing: created.existing };
      const { action } = created;
      events.publish({ type: "action", actionId: action.actionId, alertId: action.alertId, agentId: action.agentId });
      const delivered = await delivery.deliver(action);
      return { ok: true, action: delivered ? { ...action, state: "sent", sentAt: new Date(now()) } : action, delivered, connected: delivered || agent.online };
    },
  };
}
