import { ResultStatus, type Answer, type Operator } from "../../gen/secarc/v1/action_pb.js";
import { AlertState } from "../../gen/secarc/v1/alert_pb.js";
import type { ActionRecord, AlertRecord } from "../store/store.js";
import { isControllerKind } from "./alert-kinds.js";

/** How an operator's answer stands. */
export type AnswerProgress = "sent" | "queued" | "done" | "failed" | "refused";

export interface AnswerOutcome {
  answer: Answer;
  operator: Operator | undefined;
  progress: AnswerProgress;
  /** The agent's detail for done / failed / refused. */
  detail: string;
  dryRun: boolean;
  /** Set when the no-answer policy chose the answer because nobody did in time. */
  policy?: { afterMs: number };
}

/** Where an alert stands in its life. */
export type AlertPhase =
  /** Waiting for an answer; answers offered. */
  | { type: "open" }
  /** Answered: who chose what, and how it went. */
  | { type: "answered"; outcome: AnswerOutcome }
  /** The condition ended (possibly after an answer). */
  | { type: "resolved"; outcome: AnswerOutcome | undefined }
  /** Nobody answered within the answer window. */
  | { type: "expired" };

/** What an alert's state depends on besides its record and actions. */
export interface LifecycleConfig {
  /** How long an unanswered open alert offers its answers (telegram.answerWindow), in ms. */
  answerWindowMs: number;
  /** Whether the alert's agent is connected now (an answer not yet carried out is "sent", else "queued"). */
  agentOnline: boolean;
}

/** An alert's state: its phase, and when it stops (or stopped) offering answers. */
export interface AlertLifecycle {
  phase: AlertPhase;
  /** When an unanswered alert expires (ms); undefined for the controller's own kinds, which never do. */
  expiresAt: number | undefined;
}

/**
 * The one rule for where an alert stands, read by Telegram's view, the
 * no-answer policy, /alerts and the metrics. Pure: the alert as stored, its
 * actions oldest first (the latest answers it), the time and the config.
 * Resolved wins over everything (keeping the answer's outcome); then an
 * answer; then expiry, answerWindowMs after the controller received the
 * alert (never for the controller's own kinds: they end when the condition
 * does); else open.
 */
export function alertLifecycle(record: AlertRecord, actions: readonly ActionRecord[], now: number, config: LifecycleConfig): AlertLifecycle {
  const expiresAt = alertExpiresAt(record, config.answerWindowMs);
  const outcome = actions.reduce<AnswerOutcome | undefined>((_, action) => answerOutcome(action, config.agentOnline), undefined);
  if (record.alert.state === AlertState.RESOLVED) return { phase: { type: "resolved", outcome }, expiresAt };
  if (outcome) return { phase: { type: "answered", outcome }, expiresAt };
  if (expiresAt !== undefined && now >= expiresAt) return { phase: { type: "expired" }, expiresAt };
  return { phase: { type: "open" }, expiresAt };
}

/** When an alert stops offering answers if nobody answers it; undefined for the controller's own kinds. */
export function alertExpiresAt(record: AlertRecord, answerWindowMs: number): number | undefined {
  return isControllerKind(record.alert.kind) ? undefined : record.receivedAt.getTime() + answerWindowMs;
}

/** A short key of a phase ("open", "answered:done" ...), stored with each rendered message and used as a metrics label. */
export function phaseKey(phase: AlertPhase): string {
  return phase.type === "answered" ? `answered:${phase.outcome.progress}` : phase.type;
}

function answerOutcome(action: ActionRecord, agentOnline: boolean): AnswerOutcome {
  return {
    answer: action.answer,
    operator: action.operator,
    progress: progressOf(action, agentOnline),
    detail: action.detail,
    dryRun: action.dryRun,
    ...(action.policy ? { policy: { afterMs: action.policy.afterMs } } : {}),
  };
}

function progressOf(action: ActionRecord, agentOnline: boolean): AnswerProgress {
  switch (action.state) {
    case "done":
      return "done";
    case "failed":
      return "failed";
    case "refused":
      return "refused";
    case "pending":
    case "sent":
      if (action.resultStatus === ResultStatus.DONE) return "done";
      return agentOnline ? "sent" : "queued";
  }
}
