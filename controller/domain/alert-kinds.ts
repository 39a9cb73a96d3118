import { SHARED_KINDS, isKnownKind, subjectAddress, type KnownKind } from "../../common/alert-kinds.js";
import type { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, type Alert } from "../../gen/secarc/v1/alert_pb.js";

export { isKnownKind, kindAnswers, type KnownKind } from "../../common/alert-kinds.js";

/** What the controller knows of one alert kind. */
export interface KindEntry {
  /** The answers it offers, in display order (common/alert-kinds.ts, shared with the agent). */
  answers: readonly Answer[];
  /** Who raises it: an agent's detector, or the controller itself (an agent offline, a detector blind). */
  raisedBy: "agent" | "controller";
  /** Its name in the `policy` config section; absent: no rule can name it (nothing to answer). */
  policyName?: string;
  /** Its texts in the translations: `kindName.<key>` and `alert.<key>` (the body line). */
  textKey: "sshSession" | "sshBruteForce" | "cpuSustained" | "http404Burst" | "agentOffline" | "detectorBlind";
}

/**
 * The controller's catalog of alert kinds. Telegram's view, the no-answer
 * policy and its config, the action targets and the link's checks read it;
 * a new AlertKind fails the build here until it has an entry.
 */
export const ALERT_KINDS = {
  [AlertKind.SSH_SESSION]: { answers: SHARED_KINDS[AlertKind.SSH_SESSION].answers, raisedBy: "agent", policyName: "ssh_session", textKey: "sshSession" },
  [AlertKind.SSH_BRUTE_FORCE]: { answers: SHARED_KINDS[AlertKind.SSH_BRUTE_FORCE].answers, raisedBy: "agent", policyName: "ssh_brute_force", textKey: "sshBruteForce" },
  [AlertKind.CPU_SUSTAINED]: { answers: SHARED_KINDS[AlertKind.CPU_SUSTAINED].answers, raisedBy: "agent", policyName: "cpu_sustained", textKey: "cpuSustained" },
  [AlertKind.HTTP_404_BURST]: { answers: SHARED_KINDS[AlertKind.HTTP_404_BURST].answers, raisedBy: "agent", policyName: "http_404_burst", textKey: "http404Burst" },
  [AlertKind.AGENT_OFFLINE]: { answers: SHARED_KINDS[AlertKind.AGENT_OFFLINE].answers, raisedBy: "controller", textKey: "agentOffline" },
  [AlertKind.DETECTOR_BLIND]: { answers: SHARED_KINDS[AlertKind.DETECTOR_BLIND].answers, raisedBy: "controller", textKey: "detectorBlind" },
} as const satisfies Record<KnownKind, KindEntry>;

/** The texts' key of a kind, for every kind the catalog has. */
export type KindTextKey = (typeof ALERT_KINDS)[KnownKind]["textKey"];

export function kindEntry(kind: AlertKind): KindEntry | undefined {
  return isKnownKind(kind) ? ALERT_KINDS[kind] : undefined;
}

/**
 * Kinds the controller raises itself (an agent offline, a detector blind): no answers to wait
 * for, so they never expire; they end when the condition does.
 */
export function isControllerKind(kind: AlertKind): boolean {
  return kindEntry(kind)?.raisedBy === "controller";
}

/** The address an alert is about, if its subject names one (as written; see normalizeIp). */
export function alertAddress(alert: Alert): string | undefined {
  return subjectAddress(alert);
}

type PolicyKindName = NonNullable<(typeof ALERT_KINDS)[KnownKind] extends infer E ? (E extends { policyName: infer N } ? N : never) : never>;

/** Alert kinds as written in the `policy` config section (the kinds an agent raises). */
export const policyKindNames = Object.fromEntries(
  (Object.entries(ALERT_KINDS) as Array<[string, KindEntry]>).flatMap(([kind, entry]) => (entry.policyName ? [[entry.policyName, Number(kind) as KnownKind]] : [])),
) as Record<PolicyKindName, KnownKind>;
