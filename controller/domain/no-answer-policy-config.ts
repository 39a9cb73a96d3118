import { z } from "zod";
import { durationMs } from "../../common/config.js";
import { formatDuration } from "../../common/duration.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { Severity } from "../../gen/secarc/v1/alert_pb.js";
import { ALERT_KINDS, policyKindNames } from "./alert-kinds.js";
import { ANSWERS, type AnswerEntry, type KnownAnswer } from "./answers.js";
import type { NoAnswerRule } from "./no-answer-policy.js";

export { policyKindNames } from "./alert-kinds.js";

/** Severities as written in the config. */
export const policySeverityNames = {
  info: Severity.INFO,
  warning: Severity.WARNING,
  critical: Severity.CRITICAL,
} as const satisfies Record<string, Severity>;

const answerEntries = (Object.entries(ANSWERS) as Array<[string, AnswerEntry]>).map(([answer, entry]) => [Number(answer) as KnownAnswer, entry] as const);

/** Answers as written in the config, from the answer catalog (UNBLOCK_IP and REVOKE_ALLOW answer no alert). */
type PolicyAnswerName = NonNullable<(typeof ANSWERS)[KnownAnswer] extends infer E ? (E extends { policyName: infer N } ? N : never) : never>;

export const policyAnswerNames = Object.fromEntries(answerEntries.flatMap(([answer, entry]) => (entry.policyName ? [[entry.policyName, answer]] : []))) as Record<PolicyAnswerName, KnownAnswer>;

/** Answers whose `duration` means something: how long a block lasts, how long re-alerts are muted. */
const ANSWERS_WITH_DURATION: readonly Answer[] = [
  ...answerEntries.filter(([, entry]) => entry.options === "block_duration"),
  ...answerEntries.filter(([, entry]) => entry.options === "chosen_duration"),
].map(([answer]) => answer);

/** How long an unanswered alert offers its answers when there is no telegram section (telegram.answerWindow's default). */
export const DEFAULT_ANSWER_WINDOW_MS = 86_400_000;

type KindName = keyof typeof policyKindNames;
type AnswerName = PolicyAnswerName;

const sayList = (names: readonly string[]): string => (names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : (names[0] ?? ""));

const nameOf = <T extends Record<string, number>>(table: T, value: number): string => Object.keys(table).find((key) => table[key] === value) ?? String(value);

/** One rule: apply `answer` to unanswered alerts of `kind` at `severity` once `after` has passed. */
export const noAnswerRuleSchema = z
  .strictObject({
    /** The alert kind: ssh_session, ssh_brute_force, cpu_sustained or http_404_burst. Required. */
    kind: z.enum(Object.keys(policyKindNames) as [KindName, ...KindName[]]),
    /** The alert's current severity: info, warning or critical. Required. */
    severity: z.enum(Object.keys(policySeverityNames) as [keyof typeof policySeverityNames, ...Array<keyof typeof policySeverityNames>]),
    /** The answer applied, one the kind offers (e.g. block_ip or ignore for http_404_burst). Required. */
    answer: z.enum(Object.keys(policyAnswerNames) as [AnswerName, ...AnswerName[]]),
    /** How long a human has to answer, counted from when the alert reached this severity. Required, > 0. */
    after: durationMs().refine((ms) => ms > 0, { message: "must be longer than zero" }),
    /** block_ip: how long to block (default: telegram.defaultBlockDuration); allow / ignore: how long to mute re-alerts (default: no mute). */
    duration: durationMs().refine((ms) => ms > 0, { message: "must be longer than zero" }).optional(),
    /** Act on alerts a silence or maintenance window holds (their time counted from the alert). Default: false (the time starts when the silence ends). */
    duringSilence: z.boolean().default(false),
  })
  .superRefine((rule, ctx) => {
    const kind = policyKindNames[rule.kind];
    const answer = policyAnswerNames[rule.answer];
    const offered: readonly Answer[] = ALERT_KINDS[kind].answers;
    if (!offered.includes(answer)) {
      const names = offered.map((a) => nameOf(policyAnswerNames, a)).join(", ");
      ctx.addIssue({ code: "custom", path: ["answer"], message: `${rule.kind} alerts do not offer ${rule.answer}; they offer ${names}` });
    }
    if (rule.duration !== undefined && !ANSWERS_WITH_DURATION.includes(answer)) {
      ctx.addIssue({ code: "custom", path: ["duration"], message: `duration applies to ${sayList(ANSWERS_WITH_DURATION.map((a) => nameOf(policyAnswerNames, a)))}, not to ${rule.answer}` });
    }
  })
  .transform(
    (rule): NoAnswerRule => ({
      kind: policyKindNames[rule.kind],
      severity: policySeverityNames[rule.severity],
      answer: policyAnswerNames[rule.answer],
      afterMs: rule.after,
      durationMs: rule.duration,
      label: `${rule.answer} ${rule.severity} ${rule.kind} after ${formatDuration(rule.after)}`,
      ...(rule.duringSilence ? { duringSilence: true } : {}),
    }),
  );

/** The `policy` section: what happens to alerts nobody answers. */
export const noAnswerPolicySchema = z.strictObject({
  /** Rules, at most one per kind and severity. Default: none (every alert waits for a human until it expires). */
  rules: z
    .array(noAnswerRuleSchema)
    .default([])
    .superRefine((rules, ctx) => {
      const seen = new Map<string, number>();
      rules.forEach((rule, index) => {
        const key = `${nameOf(policySeverityNames, rule.severity)} ${nameOf(policyKindNames, rule.kind)}`;
        const first = seen.get(key);
        if (first !== undefined) ctx.addIssue({ code: "custom", path: [index], message: `a second rule for ${key} alerts (rule ${first} is the first); keep one` });
        else seen.set(key, index);
      });
    }),
});

/**
 * The check across sections, run on the whole controller config: a rule must
 * act before the alert expires (telegram.answerWindow, 24 h without a
 * telegram section), since an expired alert offers no answers any more.
 */
export function checkPolicyAgainstExpiry(
  config: { policy: { rules: readonly NoAnswerRule[] }; telegram?: { answerWindow: number } | undefined },
  ctx: z.RefinementCtx,
): void {
  const window = config.telegram?.answerWindow ?? DEFAULT_ANSWER_WINDOW_MS;
  // Runs even when other keys failed; only rules that parsed are checked.
  if (!Array.isArray(config.policy?.rules) || typeof window !== "number") return;
  config.policy.rules.forEach((rule, index) => {
    if (typeof rule?.afterMs === "number" && rule.afterMs >= window) {
      ctx.addIssue({
        code: "custom",
        path: ["policy", "rules", index, "after"],
        message: `${formatDuration(rule.afterMs)} is not shorter than telegram.answerWindow (${formatDuration(window)}): the alert would expire, and stop offering answers, before this rule acts`,
      });
    }
  });
}
