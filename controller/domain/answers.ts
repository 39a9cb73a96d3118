import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { subjectAddress } from "../../common/alert-kinds.js";
import { ActionOptionsSchema, ActionTargetSchema, Answer, type ActionOptions, type ActionTarget } from "../../gen/secarc/v1/action_pb.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";

/** Every answer of the proto (UNSPECIFIED is none). */
export type KnownAnswer = Exclude<Answer, Answer.UNSPECIFIED>;

/** What an answer applies to, copied from the alert's subject; "none" for host-wide answers. */
export type TargetRule = "ip" | "session" | "process" | "none";

/** The settings an answer's options come from: the config's defaults and, when chosen, a duration. */
export interface AnswerSettings {
  /** BLOCK_IP's length when none is chosen (telegram.defaultBlockDuration), in ms. */
  blockDurationMs: number;
  /** REBOOT / SHUTDOWN's delay (telegram.powerDelay), in ms. */
  powerDelayMs: number;
  /** A chosen length: the Allow tap's duration (0 = until revoked), a policy rule's `duration`. */
  durationMs?: number | undefined;
}

/** How an answer's ActionOptions are made. */
export type OptionsRule =
  /** None. */
  | "none"
  /** duration = the chosen length, else telegram.defaultBlockDuration. */
  | "block_duration"
  /** duration = the chosen length if any (a mute; 0 = until revoked), else no options. */
  | "chosen_duration"
  /** delay = telegram.powerDelay. */
  | "power_delay";

export interface AnswerEntry {
  /** Its button label in the translations (`answer.<key>`). */
  labelKey: "allow" | "ignore" | "closeSession" | "blockIp" | "unblockIp" | "killAny" | "reboot" | "shutdown" | "revokeAllow";
  /** Its name in the `policy` config section; absent: no policy rule may choose it (it answers no alert). */
  policyName?: string;
  target: TargetRule;
  /** Refused (unsupported) when the request names no target and none can be derived. */
  requiresTarget?: boolean;
  /** Offered as a button only when the alert names its target (Kill: a busiest process). */
  offerOnlyWithTarget?: boolean;
  options: OptionsRule;
  /** The second tap it needs: "confirm" (Reboot / Shut down), "duration" (Allow: for how long). */
  secondTap?: "confirm" | "duration";
}

/**
 * The answer catalog: per answer, its label key, its config name, what it
 * targets and what options it takes. A new Answer fails the build here
 * until it has an entry.
 */
export const ANSWERS = {
  [Answer.ALLOW]: { labelKey: "allow", policyName: "allow", target: "ip", options: "chosen_duration", secondTap: "duration" },
  [Answer.IGNORE]: { labelKey: "ignore", policyName: "ignore", target: "none", options: "chosen_duration" },
  [Answer.CLOSE_SESSION]: { labelKey: "closeSession", policyName: "close_session", target: "session", requiresTarget: true, options: "none" },
  [Answer.BLOCK_IP]: { labelKey: "blockIp", policyName: "block_ip", target: "ip", requiresTarget: true, options: "block_duration" },
  [Answer.UNBLOCK_IP]: { labelKey: "unblockIp", target: "ip", requiresTarget: true, options: "none" },
  [Answer.KILL_PROCESS]: { labelKey: "killAny", policyName: "kill_process", target: "process", requiresTarget: true, offerOnlyWithTarget: true, options: "none" },
  [Answer.REBOOT]: { labelKey: "reboot", policyName: "reboot", target: "none", options: "power_delay", secondTap: "confirm" },
  [Answer.SHUTDOWN]: { labelKey: "shutdown", policyName: "shutdown", target: "none", options: "power_delay", secondTap: "confirm" },
  [Answer.REVOKE_ALLOW]: { labelKey: "revokeAllow", target: "ip", options: "none" },
} as const satisfies Record<KnownAnswer, AnswerEntry>;

export function answerEntry(answer: Answer): AnswerEntry | undefined {
  return Object.hasOwn(ANSWERS, answer) ? ANSWERS[answer as KnownAnswer] : undefined;
}

/** Whether an answer cannot be carried out without a target. */
export function answerNeedsTarget(answer: Answer): boolean {
  return answerEntry(answer)?.requiresTarget === true;
}

/**
 * What an answer to an alert applies to, copied from the alert's subject:
 * the address for BLOCK_IP, UNBLOCK_IP, ALLOW (and REVOKE_ALLOW, which is
 * sent with the target of the allow it revokes); the SSH session for
 * CLOSE_SESSION; the busiest process for KILL_PROCESS. Host-wide answers
 * (IGNORE, REBOOT, SHUTDOWN) have no target. `undefined` is also returned
 * when the subject does not name what the answer needs.
 */
export function deriveActionTarget(alert: Alert, answer: Answer): ActionTarget | undefined {
  switch (answerEntry(answer)?.target) {
    case "ip": {
      const ip = subjectAddress(alert);
      return ip ? create(ActionTargetSchema, { target: { case: "ip", value: ip } }) : undefined;
    }
    case "session": {
      if (alert.subject.case !== "sshSession") return undefined;
      const { sshdPid, sourceIp, sourcePort, user } = alert.subject.value;
      return create(ActionTargetSchema, { target: { case: "session", value: { sshdPid, sourceIp, sourcePort, user } } });
    }
    case "process": {
      const top = alert.subject.case === "cpu" ? alert.subject.value.top[0] : undefined;
      return top ? create(ActionTargetSchema, { target: { case: "process", value: { pid: top.pid, startTicks: top.startTicks, name: top.name } } }) : undefined;
    }
    default:
      return undefined;
  }
}

/** The options of an answer, the same whether a tap or the no-answer policy chose it. */
export function answerOptions(answer: Answer, settings: AnswerSettings): ActionOptions | undefined {
  const chosen = settings.durationMs;
  switch (answerEntry(answer)?.options) {
    case "block_duration":
      return create(ActionOptionsSchema, { duration: durationFromMs(chosen ?? settings.blockDurationMs) });
    case "chosen_duration":
      return chosen === undefined ? undefined : create(ActionOptionsSchema, { duration: durationFromMs(chosen) });
    case "power_delay":
      return create(ActionOptionsSchema, { delay: durationFromMs(settings.powerDelayMs) });
    default:
      return undefined;
  }
}
