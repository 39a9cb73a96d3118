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
  /** Its name in the config (`policy` rules, silence windows) and in `/silence`, e.g. "http_404_burst". */
  name: string;
  /** Its texts in the translations: `kindName.<key>` and `alert.<key>` (the body line); en.ts fails the build until both exist. */
  textKey: string;
  /**
   * Whether its alerts offer "Block on all servers" beside Block IP (its
   * answers must include BLOCK_IP): one tap blocks the address on every
   * agent that can block it (controller/domain/fleet-blocks.ts).
   */
  fleetBlock: boolean;
}

/**
 * The controller's catalog of alert kinds. Telegram's view, the no-answer
 * policy and its config, the action targets and the link's checks read it;
 * a new AlertKind fails the build here until it has an entry.
 */
export const ALERT_KINDS = {
  [AlertKind.SSH_SESSION]: { answers: SHARED_KINDS[AlertKind.SSH_SESSION].answers, raisedBy: "agent", name: "ssh_session", textKey: "sshSession", fleetBlock: false },
  [AlertKind.SSH_BRUTE_FORCE]: { answers: SHARED_KINDS[AlertKind.SSH_BRUTE_FORCE].answers, raisedBy: "agent", name: "ssh_brute_force", textKey: "sshBruteForce", fleetBlock: true },
  [AlertKind.CPU_SUSTAINED]: { answers: SHARED_KINDS[AlertKind.CPU_SUSTAINED].answers, raisedBy: "agent", name: "cpu_sustained", textKey: "cpuSustained", fleetBlock: false },
  [AlertKind.HTTP_404_BURST]: { answers: SHARED_KINDS[AlertKind.HTTP_404_BURST].answers, raisedBy: "agent", name: "http_404_burst", textKey: "http404Burst", fleetBlock: true },
  [AlertKind.AGENT_OFFLINE]: { answers: SHARED_KINDS[AlertKind.AGENT_OFFLINE].answers, raisedBy: "controller", name: "agent_offline", textKey: "agentOffline", fleetBlock: false },
  [AlertKind.DETECTOR_BLIND]: { answers: SHARED_KINDS[AlertKind.DETECTOR_BLIND].answers, raisedBy: "controller", name: "detector_blind", textKey: "detectorBlind", fleetBlock: false },
  // An agent's digest of alerts folded above its alerts.maxPerMinute (agent/outbox/alert-rate-limit.ts): nothing to answer.
  [AlertKind.ALERTS_FOLDED]: { answers: SHARED_KINDS[AlertKind.ALERTS_FOLDED].answers, raisedBy: "agent", name: "alerts_folded", textKey: "alertsFolded", fleetBlock: false },
} as const satisfies Record<KnownKind, KindEntry>;

/** Whether alerts of a kind offer "Block on all servers" (beside Block IP). */
export function offersFleetBlock(kind: AlertKind): boolean {
  return kindEntry(kind)?.fleetBlock === true;
}

/** The texts' key of a kind, for every kind the catalog has. */
export type KindTextKey = (typeof ALERT_KINDS)[KnownKind]["textKey"];

export function kindEntry(kind: AlertKind): (typeof ALERT_KINDS)[KnownKind] | undefined {
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

type Entries = typeof ALERT_KINDS;
/** Kinds that offer "Block on all servers" without offering Block IP: none may (this fails the build otherwise). */
type FleetWithoutBlock = { [K in KnownKind]: Entries[K]["fleetBlock"] extends true ? (Answer.BLOCK_IP extends Entries[K]["answers"][number] ? never : K) : never }[KnownKind];
export const fleetBlockNeedsBlockIp: [FleetWithoutBlock] extends [never] ? true : never = true;
/** A kind's name as written in the config and in commands. */
export type KindName = Entries[KnownKind]["name"];
/** The name of a kind an agent raises (the ones a no-answer rule can answer). */
export type PolicyKindName = { [K in KnownKind]: Entries[K] extends { raisedBy: "agent" } ? Entries[K]["name"] : never }[KnownKind];

const entries = (Object.entries(ALERT_KINDS) as Array<[string, KindEntry]>).map(([kind, entry]) => [Number(kind) as KnownKind, entry] as const);

/** Every kind by its name, as written in the config and in `/silence`. */
export const kindNames = Object.fromEntries(entries.map(([kind, entry]) => [entry.name, kind])) as Record<KindName, KnownKind>;

/** Alert kinds as written in the `policy` config section: the kinds an agent raises (the controller's own offer no answers). */
export const policyKindNames = Object.fromEntries(entries.flatMap(([kind, entry]) => (entry.raisedBy === "agent" ? [[entry.name, kind]] : []))) as Record<PolicyKindName, KnownKind>;
