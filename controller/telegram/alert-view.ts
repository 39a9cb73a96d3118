import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { Severity, type AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { checkBlockTarget, type BlockRefusal, type TargetContext } from "../domain/action-target.js";
import { alertAddress, isKnownKind, kindAnswers, offersFleetBlock, type KnownKind } from "../domain/alert-kinds.js";
import { alertLifecycle, phaseKey as lifecyclePhaseKey, type AlertPhase } from "../domain/alert-lifecycle.js";
import { answerEntry, deriveActionTarget } from "../domain/answers.js";
import type { ActionRecord, AlertRecord } from "../store/store.js";

/** Alert kinds the bridge renders (UNSPECIFIED is not a kind). */
export type RenderableKind = KnownKind;

export type { AlertPhase, AnswerOutcome, AnswerProgress } from "../domain/alert-lifecycle.js";

export interface AlertView {
  alertId: string;
  agentId: string;
  kind: AlertKind;
  severity: Severity;
  /** The severity first shown, when the alert has since risen above it. */
  escalatedFrom: Severity | undefined;
  phase: AlertPhase;
  /** The buttons to show; empty unless the phase is "open". */
  answers: Answer[];
  /** When the controller first received the alert: the time shown (one clock for operators). */
  receivedAt: number;
  /** The agent's clock minus the controller's, when known (its time is shown beside when over 30 s). */
  clockSkewMs: number | undefined;
  /** Answers the alert offers that the controller withholds, and why (a block target that must not be blocked). */
  withheld: WithheldAnswer[];
  /** Whether "Block on all servers" is offered beside Block IP (its kind's catalog entry, Block IP offered, fleet blocks served). */
  fleetBlock: boolean;
  /** Whether the alert was answered by "Block on all servers" (its Block IP is that block's part on its server). */
  answeredEverywhere: boolean;
  /** Whether the message was sent again after a send with no answer: it says a copy may be just above. */
  sentAgain: boolean;
}

/** An answer not offered as a button though the alert allows it: the address and the reason are shown instead. */
export interface WithheldAnswer {
  answer: Answer;
  address: string;
  reason: BlockRefusal;
}

export interface AlertViewInput {
  record: AlertRecord;
  /** The actions answering this alert, oldest first. */
  actions: readonly ActionRecord[];
  /** The agent as last seen: online, and the answers it supports. Undefined if unknown. */
  agent: { online: boolean; actions: readonly Answer[]; clockSkewMs?: number | undefined; addresses?: readonly string[] } | undefined;
  /** The controller's own addresses (never offered as block targets). Default: none. */
  controllerAddresses?: readonly string[];
  /** The severity the alert had when first shown (undefined: not shown yet). */
  firstSeverity: Severity | undefined;
  now: number;
  /** How long an unanswered open alert offers its answers, in ms. */
  answerWindowMs: number;
  /** Whether the controller serves blocks on all servers (the bridge has them). Default: false. */
  fleetBlocks?: boolean;
  /** Whether a block on all servers answered this alert. Default: false. */
  answeredEverywhere?: boolean;
  /** Whether the message is (or is about to be) a repeat of a send with no answer. Default: false. */
  sentAgain?: boolean;
}

/** Derives what an alert's message must show now. Pure: same input, same view. */
export function deriveAlertView(input: AlertViewInput): AlertView {
  const { record, actions, agent, now } = input;
  const alert = record.alert;
  const { phase } = alertLifecycle(record, actions, now, { answerWindowMs: input.answerWindowMs, agentOnline: agent?.online ?? false });
  const escalatedFrom =
    input.firstSeverity !== undefined && input.firstSeverity !== Severity.UNSPECIFIED && alert.severity > input.firstSeverity ? input.firstSeverity : undefined;
  const shown = offered(phase.type === "open", record, agent?.actions ?? [], { agentAddresses: agent?.addresses ?? [], controllerAddresses: input.controllerAddresses ?? [] });
  return {
    alertId: record.alertId,
    agentId: record.agentId,
    kind: alert.kind,
    severity: alert.severity,
    escalatedFrom,
    phase,
    receivedAt: record.receivedAt.getTime(),
    clockSkewMs: agent?.clockSkewMs,
    ...shown,
    fleetBlock: (input.fleetBlocks ?? false) && offersFleetBlock(alert.kind) && shown.answers.includes(Answer.BLOCK_IP),
    answeredEverywhere: input.answeredEverywhere ?? false,
    sentAgain: input.sentAgain ?? false,
  };
}

/** The buttons of an open alert, less the block whose target the controller refuses (withheld, with the reason). */
function offered(open: boolean, record: AlertRecord, agentActions: readonly Answer[], context: TargetContext): { answers: Answer[]; withheld: WithheldAnswer[] } {
  if (!open) return { answers: [], withheld: [] };
  const withheld: WithheldAnswer[] = [];
  const answers = offeredAnswers(record, agentActions).filter((answer) => {
    if (answer !== Answer.BLOCK_IP) return true;
    const address = alertAddress(record.alert) ?? "";
    const check = checkBlockTarget(address, context);
    if (!check.ok) withheld.push({ answer, address, reason: check.reason });
    return check.ok;
  });
  return { answers, withheld };
}

/** The answers shown as buttons: the kind's, allowed by the alert and supported by the agent. */
export function offeredAnswers(record: AlertRecord, agentActions: readonly Answer[]): Answer[] {
  const alert = record.alert;
  const allowed = new Set(alert.answers);
  const supported = new Set(agentActions);
  return kindAnswers(alert.kind).filter((answer) => {
    if (!allowed.has(answer) || !supported.has(answer)) return false;
    // An answer whose target the alert must name (Kill: its busiest process) is offered only when it does.
    return !answerEntry(answer)?.offerOnlyWithTarget || deriveActionTarget(alert, answer) !== undefined;
  });
}

export function isRenderableKind(kind: AlertKind): kind is RenderableKind {
  return isKnownKind(kind);
}

/** A short key of the phase, stored with each rendered message (e.g. to find open ones to expire). */
export function phaseKey(view: AlertView): string {
  return lifecyclePhaseKey(view.phase);
}
