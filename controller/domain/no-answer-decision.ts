import { create } from "@bufbuild/protobuf";
import { Answer, OperatorSchema, type ActionOptions, type Operator } from "../../gen/secarc/v1/action_pb.js";
import { AlertState, type AlertKind, type Severity } from "../../gen/secarc/v1/alert_pb.js";
import type { AlertRecord } from "../store/store.js";
import { alertExpiresAt } from "./alert-lifecycle.js";
import { answerOptions } from "./answers.js";

/*
 * The no-answer policy's pure part: its rules, whom its actions are from,
 * and the decision for one alert at one time (no-answer-policy.ts runs it
 * against the store and a timer).
 */

/** One rule of the `policy` config section, validated. */
export interface NoAnswerRule {
  kind: AlertKind;
  /** The severity the alert has now; its clock starts when the alert reached it. */
  severity: Severity;
  answer: Answer;
  /** How long a human has to answer, in ms (> 0). */
  afterMs: number;
  /** BLOCK_IP: block length; ALLOW / IGNORE: how long re-alerts are muted. Undefined: the answer's default. */
  durationMs: number | undefined;
  /** A short description, e.g. "block_ip critical http_404_burst after 5m". */
  label: string;
  /** Acts on alerts a silence holds, counting from the alert as if there were none. Default (undefined): its time starts when the silence ends. */
  duringSilence?: boolean | undefined;
}

/** The Operator.username of actions the policy chose; their telegram_user_id is 0, which no Telegram user has. */
export const POLICY_USERNAME = "policy";

/** Who asked, as agents see it in ResponseAction.requested_by. */
export function policyOperator(rule: NoAnswerRule): Operator {
  return create(OperatorSchema, { telegramUserId: 0n, username: POLICY_USERNAME, displayName: `policy: ${rule.label}` });
}

/** True for the Operator of an action the no-answer policy chose. */
export function isPolicyOperator(operator: Operator | undefined): boolean {
  return operator !== undefined && operator.telegramUserId === 0n && operator.username === POLICY_USERNAME;
}

/** What the policy does with one alert now. */
export type NoAnswerDecision =
  /** Nothing: no rule for its kind and severity, already answered, or resolved. */
  | { type: "none" }
  /** Wait until dueAt, then decide again. */
  | { type: "wait"; rule: NoAnswerRule; dueAt: number }
  /** Apply the rule's answer now. */
  | { type: "apply"; rule: NoAnswerRule }
  /** A rule names the alert but will not act on it; `why` says why (logged once). */
  | { type: "skip"; rule: NoAnswerRule; why: SkipReason; detail: string };

export type SkipReason = "expires_first" | "expired" | "not_offered" | "agent_cannot";

export interface NoAnswerInput {
  record: AlertRecord;
  /** True when an action (a human's or the policy's) answers the alert already. */
  answered: boolean;
  /** The answers the agent announced in its last Hello; undefined for an unknown agent. */
  agentActions: readonly Answer[] | undefined;
  now: number;
  /** How long an unanswered alert offers its answers (telegram.answerWindow), in ms. */
  answerWindowMs: number;
  /** Until when a silence keeps (or kept) the alert from the chats; undefined when none does. */
  heldUntil?: number | undefined;
}

/** The rules by kind and severity. */
export type RuleTable = ReadonlyMap<string, NoAnswerRule>;

export function ruleTable(rules: readonly NoAnswerRule[]): RuleTable {
  return new Map(rules.map((rule) => [ruleKey(rule.kind, rule.severity), rule]));
}

export function ruleKey(kind: AlertKind, severity: Severity): string {
  return `${kind}/${severity}`;
}

/**
 * Decides, from stored facts and the time, what the policy does with an
 * alert. Pure. The rule is the one for the alert's current kind and
 * severity, and its clock starts when the alert reached that severity
 * (record.severitySince): an escalation from warning to critical starts the
 * critical rule's time at the escalation. The alert expires answerWindowMs
 * after it was received; a rule acts only before that.
 */
export function decideNoAnswer(rules: RuleTable, input: NoAnswerInput): NoAnswerDecision {
  const { record, now } = input;
  const alert = record.alert;
  // The alert's lifecycle, less the answers (input.answered stands for them): only an open or expired alert is the policy's.
  if (alert.state === AlertState.RESOLVED || input.answered) return { type: "none" };
  const rule = rules.get(ruleKey(alert.kind, alert.severity));
  if (!rule) return { type: "none" };
  // Nobody saw a silenced alert: its time starts when the silence ends, unless the rule says otherwise.
  const held = rule.duringSilence ? undefined : input.heldUntil;
  const dueAt = Math.max(record.severitySince.getTime(), held ?? 0) + rule.afterMs;
  const expiresAt = alertExpiresAt(record, input.answerWindowMs) ?? Number.POSITIVE_INFINITY;
  const answerName = Answer[rule.answer];
  if (dueAt >= expiresAt) {
    return { type: "skip", rule, why: "expires_first", detail: `the alert expires at ${iso(expiresAt)}, before the rule's time ${iso(dueAt)}` };
  }
  if (!alert.answers.includes(rule.answer)) return { type: "skip", rule, why: "not_offered", detail: `the alert does not offer ${answerName}` };
  if (!input.agentActions?.includes(rule.answer)) {
    const detail = input.agentActions ? `agent ${record.agentId} did not announce ${answerName} in its Hello` : `agent ${record.agentId} is not known`;
    return { type: "skip", rule, why: "agent_cannot", detail };
  }
  if (now < dueAt) return { type: "wait", rule, dueAt };
  if (now >= expiresAt) return { type: "skip", rule, why: "expired", detail: `the alert expired at ${iso(expiresAt)}, before the policy could act` };
  return { type: "apply", rule };
}

/** The options of the policy's answer, as a tap would set them (the answer catalog's rule, with the rule's duration). */
export function policyOptions(rule: NoAnswerRule, defaults: { blockDurationMs: number; powerDelayMs: number }): ActionOptions | undefined {
  return answerOptions(rule.answer, { ...defaults, durationMs: rule.durationMs });
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
