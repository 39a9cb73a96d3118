import { clone, create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { describeError } from "../../common/errors.js";
import { newId } from "../../common/ids.js";
import type { Logger } from "../../common/log.js";
import {
  AlertKind,
  AlertSchema,
  AlertState,
  DetectorBlindSchema,
  DetectorSourceSchema,
  DetectorSourceState,
  Severity,
  type Alert,
  type DetectorSource,
} from "../../gen/secarc/v1/alert_pb.js";
import type { AgentState, AlertRecord, DetectorSourceRecord, Store } from "../store/store.js";
import type { EventBus } from "./events.js";
import { defaultCheckEvery, startWatchTimer } from "./watch-timer.js";

/**
 * A detector that sees nothing is an alert. Agents report each detector's
 * source in Hello and Heartbeat (stored with the agent); a detector of an
 * online agent whose source has been anything but FOLLOWING for longer than
 * `detectors.blindAlertAfter` gets one controller-side alert (kind
 * DETECTOR_BLIND), resolved in the same message when the agent reports it
 * following a source again, or no longer runs it. Like the offline alert
 * (agent-presence.ts), open alerts live in the store: a restart neither
 * repeats nor forgets them. An offline agent's sources are stale, so nothing
 * is raised or resolved for it meanwhile (its offline alert says enough).
 */

/** Stored records of reported sources (times in ms; unknown enum values kept as numbers). */
export function sourceRecords(sources: readonly DetectorSource[]): DetectorSourceRecord[] {
  return sources.map((source) => ({
    detector: source.detector,
    kind: source.kind,
    state: source.state,
    detail: source.detail,
    since: source.since ? timestampMs(source.since) : 0,
  }));
}

/** Whether a source lets its detector see anything. */
export function isFollowing(source: Pick<DetectorSourceRecord, "state">): boolean {
  return source.state === DetectorSourceState.FOLLOWING;
}

/** "following /var/log/auth.log", "no source: no auth log and no sshd in journald", ... (plain text). */
export function describeSource(source: Pick<DetectorSourceRecord, "state" | "detail">): string {
  const word = SOURCE_STATE_WORDS[source.state as DetectorSourceState] ?? "unknown";
  if (!source.detail) return word;
  return source.state === DetectorSourceState.FOLLOWING ? `${word} ${source.detail}` : `${word}: ${source.detail}`;
}

const SOURCE_STATE_WORDS = {
  [DetectorSourceState.UNSPECIFIED]: "unknown",
  [DetectorSourceState.FOLLOWING]: "following",
  [DetectorSourceState.WAITING]: "waiting",
  [DetectorSourceState.NO_SOURCE]: "no source",
  [DetectorSourceState.UNREADABLE]: "unreadable",
} satisfies Record<DetectorSourceState, string>;

/** An agent as the blind decision sees it. */
export interface BlindAgent {
  agentId: string;
  online: boolean;
  revoked: boolean;
  sources: readonly DetectorSourceRecord[];
}

/** An open DETECTOR_BLIND alert. */
export interface OpenBlindAlert {
  alertId: string;
  agentId: string;
  detector: string;
}

export type BlindEffect =
  /** Raise a blind alert: `source` is the detector's report, blind since `blindSince`. */
  | { type: "raise"; agentId: string; source: DetectorSourceRecord; blindSince: number }
  /** Resolve the open alert: the detector follows `found` (undefined: it no longer runs) since `foundAt`. */
  | { type: "resolve"; alertId: string; agentId: string; found: DetectorSourceRecord | undefined; foundAt: number };

export interface BlindInput {
  agents: readonly BlindAgent[];
  open: readonly OpenBlindAlert[];
  now: number;
  /** How long a detector may be blind before the alert. */
  afterMs: number;
  /** Since when this controller has been watching: blindness is counted from no earlier. */
  watchingSince: number;
}

/**
 * What to do now. Pure: for each online, unrevoked agent that reports
 * sources, a blind detector without an open alert gets one once blind for
 * `afterMs` while this controller watched; an open alert whose detector
 * follows a source again, or is no longer reported, is resolved.
 */
export function decideBlind(input: BlindInput): BlindEffect[] {
  const effects: BlindEffect[] = [];
  const openByAgent = new Map<string, Map<string, OpenBlindAlert>>();
  for (const alert of input.open) {
    const byDetector = openByAgent.get(alert.agentId) ?? new Map<string, OpenBlindAlert>();
    byDetector.set(alert.detector, alert);
    openByAgent.set(alert.agentId, byDetector);
  }
  for (const agent of input.agents) {
    if (!agent.online || agent.revoked || agent.sources.length === 0) continue;
    const open = openByAgent.get(agent.agentId) ?? new Map<string, OpenBlindAlert>();
    const reported = new Map(agent.sources.map((source) => [source.detector, source]));
    for (const [detector, alert] of open) {
      const source = reported.get(detector);
      if (source === undefined) effects.push({ type: "resolve", alertId: alert.alertId, agentId: agent.agentId, found: undefined, foundAt: input.now });
      else if (isFollowing(source)) effects.push({ type: "resolve", alertId: alert.alertId, agentId: agent.agentId, found: source, foundAt: Math.min(input.now, source.since || input.now) });
    }
    for (const source of agent.sources) {
      if (isFollowing(source) || open.has(source.detector)) continue;
      if (input.now - Math.max(source.since, input.watchingSince) >= input.afterMs) {
        effects.push({ type: "raise", agentId: agent.agentId, source, blindSince: source.since || input.now });
      }
    }
  }
  return effects;
}

/** Revision 1 of a detector's blind alert. */
export function blindAlert(agentId: string, source: DetectorSourceRecord, blindSince: number, now: number): Alert {
  return create(AlertSchema, {
    id: newId(now),
    revision: 1,
    kind: AlertKind.DETECTOR_BLIND,
    severity: Severity.WARNING,
    state: AlertState.OPEN,
    detectedAt: timestampFromMs(blindSince),
    updatedAt: timestampFromMs(now),
    answers: [],
    summary: `${source.detector} on ${agentId} sees nothing since ${new Date(blindSince).toISOString()}: ${describeSource(source)}`,
    subject: {
      case: "detectorBlind",
      value: create(DetectorBlindSchema, {
        agentId,
        detector: source.detector,
        source: create(DetectorSourceSchema, { ...source, since: timestampFromMs(source.since) }),
        blindSince: timestampFromMs(blindSince),
      }),
    },
  });
}

/** The next revision of a blind alert: resolved, following `found` since `foundAt` (or no longer running). */
export function resolvedBlindAlert(alert: Alert, found: DetectorSourceRecord | undefined, foundAt: number, now: number): Alert {
  const next = clone(AlertSchema, alert);
  const subject = next.subject.case === "detectorBlind" ? next.subject.value : create(DetectorBlindSchema, {});
  subject.sourceFoundAt = timestampFromMs(foundAt);
  subject.sourceFound = found ? describeSource(found) : "detector no longer running";
  next.subject = { case: "detectorBlind", value: subject };
  next.revision = alert.revision + 1;
  next.state = AlertState.RESOLVED;
  next.updatedAt = timestampFromMs(now);
  next.summary = `${subject.detector} on ${subject.agentId}: ${subject.sourceFound} since ${new Date(foundAt).toISOString()}`;
  return next;
}

export interface DetectorBlindWatchDeps {
  store: Store;
  events: EventBus;
  logger: Logger;
  now: () => number;
  /** How long a detector may be blind before the alert, ms. */
  afterMs: number;
  /** How often agents are looked at, ms. Default: a quarter of `afterMs`, between 100 ms and 5 s. */
  checkEveryMs?: number;
}

export interface DetectorBlindWatch {
  /** Looks at every agent now (also run on a timer and when an agent reports sources); resolves when done. */
  check(): Promise<void>;
  stop(): void;
}

/** Starts watching detectors' sources; the first look is immediate. */
export function startDetectorBlindWatch(deps: DetectorBlindWatchDeps): DetectorBlindWatch {
  const { store, events, logger, now, afterMs } = deps;
  const watchingSince = now();
  let stopped = false;
  /** Looks run one after another, as they did on the synchronous store: two never raise the same alert. */
  let looking: Promise<void> = Promise.resolve();

  const toAgent = (agent: AgentState): BlindAgent => ({
    agentId: agent.agentId,
    online: agent.online,
    revoked: agent.revokedAt !== undefined,
    sources: agent.detectorSources,
  });
  const toOpen = (record: AlertRecord): OpenBlindAlert => ({
    alertId: record.alertId,
    agentId: record.agentId,
    detector: record.alert.subject.case === "detectorBlind" ? record.alert.subject.value.detector : "",
  });

  async function store_(agentId: string, alert: Alert, at: number): Promise<void> {
    const stored = await store.upsertAlert(agentId, alert, new Date(at));
    if (stored.outcome !== "unchanged") events.publish({ type: "alert", alertId: alert.id, agentId, outcome: stored.outcome });
  }

  async function apply(effect: BlindEffect, at: number): Promise<void> {
    if (effect.type === "raise") {
      const alert = blindAlert(effect.agentId, effect.source, effect.blindSince, at);
      logger.warn({ agentId: effect.agentId, detector: effect.source.detector, alertId: alert.id, source: describeSource(effect.source) }, `detector ${effect.source.detector} of ${effect.agentId} blind for longer than ${Math.round(afterMs / 1000)} s`);
      await store_(effect.agentId, alert, at);
      return;
    }
    const record = await store.getAlert(effect.alertId);
    if (!record) return;
    const alert = resolvedBlindAlert(record.alert, effect.found, effect.foundAt, at);
    logger.info({ agentId: effect.agentId, alertId: effect.alertId, source: effect.found ? describeSource(effect.found) : "not running" }, "detector sees its source again; its blind alert is resolved");
    await store_(effect.agentId, alert, at);
  }

  function run(agents: () => Promise<AgentState[]>): Promise<void> {
    looking = looking.then(async () => {
      if (stopped) return;
      const at = now();
      try {
        const open = (await store.listOpenAlertsOfKind(AlertKind.DETECTOR_BLIND)).map(toOpen);
        for (const effect of decideBlind({ agents: (await agents()).map(toAgent), open, now: at, afterMs, watchingSince })) await apply(effect, at);
      } catch (err) {
        logger.error({ err: describeError(err) }, "detector source check failed; retried on the next tick");
      }
    });
    return looking;
  }

  const check = (): Promise<void> => run(() => store.listAgentStates());
  // Agents whose sources changed since the last look, gathered while one runs: a reconnect herd costs one look per batch, not two queries per agent.
  let changed = new Set<string>();
  let lookPending = false;
  const checkChanged = (agentId: string): void => {
    changed.add(agentId);
    if (lookPending) return;
    lookPending = true;
    void run(async () => {
      lookPending = false;
      const ids = changed;
      changed = new Set();
      return store.listAgentStates([...ids]);
    }).finally(() => (lookPending = false));
  };
  const unsubscribe = events.subscribe((event) => {
    if (event.type !== "sources") return;
    // After the publisher's turn, like the presence check.
    setImmediate(() => checkChanged(event.agentId));
  });
  const timer = startWatchTimer(check, deps.checkEveryMs ?? defaultCheckEvery(afterMs));

  return {
    check,
    stop() {
      stopped = true;
      timer.stop();
      unsubscribe();
    },
  };
}
