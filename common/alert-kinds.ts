import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, type Alert } from "../gen/secarc/v1/alert_pb.js";

/**
 * What agent and controller both know of each alert kind, written once:
 * the answers it offers (in display order) and the address it concerns.
 * The agent puts the answers into every alert and mutes by the address;
 * the controller shows the answers as buttons, lets the no-answer policy
 * choose among them and blocks or allows the address. Each side adds what
 * only it knows in its own catalog (agent/detectors/catalog.ts,
 * controller/domain/alert-kinds.ts); a new AlertKind fails the build here
 * and there until it has an entry (docs/architecture.md).
 */

/** Every kind of the proto (UNSPECIFIED is not a kind). */
export type KnownKind = Exclude<AlertKind, AlertKind.UNSPECIFIED>;

/** The kinds the controller raises itself (an agent never sends one: the link rejects it). */
export type ControllerKind = AlertKind.AGENT_OFFLINE | AlertKind.DETECTOR_BLIND;

/** The kind an agent raises itself, not a detector: the digest of alerts folded above `alerts.maxPerMinute`. */
export type DigestKind = AlertKind.ALERTS_FOLDED;

/** The kinds an agent's detectors raise. */
export type AgentKind = Exclude<KnownKind, ControllerKind | DigestKind>;

export interface SharedKindEntry {
  /** The answers an alert of the kind offers, in display order (the detector may offer fewer). */
  answers: readonly Answer[];
  /** The address the alert is about as its subject writes it, if it names one; not normalised. */
  address(alert: Alert): string | undefined;
}

const none = (): undefined => undefined;

export const SHARED_KINDS = {
  [AlertKind.SSH_SESSION]: {
    answers: [Answer.ALLOW, Answer.CLOSE_SESSION, Answer.BLOCK_IP],
    address: (alert) => (alert.subject.case === "sshSession" ? alert.subject.value.sourceIp || undefined : undefined),
  },
  [AlertKind.SSH_BRUTE_FORCE]: {
    answers: [Answer.BLOCK_IP, Answer.IGNORE, Answer.ALLOW],
    address: (alert) => (alert.subject.case === "sshFailures" ? alert.subject.value.sourceIp || undefined : undefined),
  },
  [AlertKind.CPU_SUSTAINED]: {
    answers: [Answer.IGNORE, Answer.REBOOT, Answer.SHUTDOWN, Answer.KILL_PROCESS],
    address: none,
  },
  [AlertKind.HTTP_404_BURST]: {
    answers: [Answer.IGNORE, Answer.BLOCK_IP, Answer.ALLOW],
    address: (alert) => (alert.subject.case === "httpErrors" ? alert.subject.value.clientIp || undefined : undefined),
  },
  [AlertKind.AGENT_OFFLINE]: { answers: [], address: none },
  [AlertKind.DETECTOR_BLIND]: { answers: [], address: none },
  [AlertKind.ALERTS_FOLDED]: { answers: [], address: none },
} as const satisfies Record<KnownKind, SharedKindEntry>;

export function isKnownKind(kind: AlertKind): kind is KnownKind {
  return Object.hasOwn(SHARED_KINDS, kind);
}

/** The answers a kind offers, in display order; none for a kind this build does not know. */
export function kindAnswers(kind: AlertKind): readonly Answer[] {
  return isKnownKind(kind) ? SHARED_KINDS[kind].answers : [];
}

/** The address an alert is about, as its subject writes it (not normalised); undefined when it names none. */
export function subjectAddress(alert: Alert): string | undefined {
  return isKnownKind(alert.kind) ? SHARED_KINDS[alert.kind].address(alert) : undefined;
}
