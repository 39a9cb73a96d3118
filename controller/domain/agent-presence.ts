import { clone, create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { describeError } from "../../common/errors.js";
import { newId } from "../../common/ids.js";
import type { Logger } from "../../common/log.js";
import { AgentOfflineSchema, AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { AgentState, AlertRecord, Store } from "../store/store.js";
import type { EventBus } from "./events.js";
import { defaultCheckEvery, startWatchTimer } from "./watch-timer.js";

/**
 * Agent silence is an alert. An agent whose stream has been gone longer
 * than a grace period gets one controller-side alert (kind AGENT_OFFLINE,
 * stored through the same path as agents' alerts, so the Telegram bridge
 * shows it and edits the same message later); when the agent connects
 * again, that alert is resolved with the time it came back. The open alerts
 * live in the store, so a restart neither repeats nor forgets them.
 */

/** An agent as the presence decision sees it. */
export interface PresenceAgent {
  agentId: string;
  online: boolean;
  /** When the controller last heard from it (for an offline agent: when its stream ended), ms. */
  lastSeen: number;
  /** Its certificate is revoked: its absence is intended, not alerted. */
  revoked: boolean;
  /** When its current stream was seen to start (this run), ms; undefined if not seen. */
  connectedAt?: number | undefined;
}

/** An open AGENT_OFFLINE alert. */
export interface OpenOfflineAlert {
  alertId: string;
  agentId: string;
}

export type PresenceEffect =
  /** Raise an offline alert for the agent, offline since `offlineSince`. */
  | { type: "raise"; agentId: string; offlineSince: number }
  /** Resolve the open alert: the agent is back since `backOnlineAt`. */
  | { type: "resolve"; alertId: string; agentId: string; backOnlineAt: number };

export interface PresenceInput {
  /** Every agent the controller knows (never-connected agents are not there, so never alerted). */
  agents: readonly PresenceAgent[];
  /** The open AGENT_OFFLINE alerts. */
  open: readonly OpenOfflineAlert[];
  now: number;
  /** How long an agent may be offline before the alert. */
  graceMs: number;
  /** Since when this controller has been watching (its start): absence is counted from no earlier. */
  watchingSince: number;
}

/**
 * What to do now. Pure: an offline agent without an open alert gets one
 * once it has been offline for `graceMs` *while this controller watched*
 * (after a restart, agents get the grace period to reconnect); an online
 * agent's open alerts are resolved. Revoked agents are not alerted.
 */
export function decidePresence(input: PresenceInput): PresenceEffect[] {
  const effects: PresenceEffect[] = [];
  const openByAgent = new Map<string, OpenOfflineAlert[]>();
  for (const alert of input.open) openByAgent.set(alert.agentId, [...(openByAgent.get(alert.agentId) ?? []), alert]);
  for (const agent of input.agents) {
    const open = openByAgent.get(agent.agentId) ?? [];
    if (agent.online) {
      const backOnlineAt = Math.min(input.now, agent.connectedAt ?? agent.lastSeen);
      for (const alert of open) effects.push({ type: "resolve", alertId: alert.alertId, agentId: agent.agentId, backOnlineAt });
      continue;
    }
    if (open.length > 0 || agent.revoked) continue;
    if (input.now - Math.max(agent.lastSeen, input.watchingSince) >= input.graceMs) {
      effects.push({ type: "raise", agentId: agent.agentId, offlineSince: agent.lastSeen });
    }
  }
  return effects;
}

/** Revision 1 of an agent's offline alert. */
export function offlineAlert(agentId: string, offlineSince: number, now: number): Alert {
  return create(AlertSchema, {
    id: newId(now),
    revision: 1,
    kind: AlertKind.AGENT_OFFLINE,
    severity: Severity.WARNING,
    state: AlertState.OPEN,
    detectedAt: timestampFromMs(offlineSince),
    updatedAt: timestampFromMs(now),
    answers: [],
    summary: `${agentId} offline since ${new Date(offlineSince).toISOString()}`,
    subject: { case: "agentOffline", value: create(AgentOfflineSchema, { agentId, offlineSince: timestampFromMs(offlineSince) }) },
  });
}

/** The next revision of an offline alert: resolved, the agent back since `backOnlineAt`. */
export function resolvedOfflineAlert(alert: Alert, backOnlineAt: number, now: number): Alert {
  const next = clone(AlertSchema, alert);
  const subject = next.subject.case === "agentOffline" ? next.subject.value : create(AgentOfflineSchema, {});
  const since = subject.offlineSince ? timestampMs(subject.offlineSince) : undefined;
  subject.backOnlineAt = timestampFromMs(backOnlineAt);
  next.subject = { case: "agentOffline", value: subject };
  next.revision = alert.revision + 1;
  next.state = AlertState.RESOLVED;
  next.updatedAt = timestampFromMs(now);
  next.summary = `${subject.agentId} back online at ${new Date(backOnlineAt).toISOString()}${since === undefined ? "" : `, offline ${Math.round((backOnlineAt - since) / 1000)} s`}`;
  return next;
}

export interface AgentPresenceDeps {
  store: Store;
  events: EventBus;
  logger: Logger;
  now: () => number;
  /** How long an agent may be offline before the alert, ms. */
  graceMs: number;
  /** How often offline agents are looked at, ms. Default: a quarter of the grace period, between 100 ms and 5 s. */
  checkEveryMs?: number;
  /** Whether this controller raises and resolves offline alerts now; with replicas only one does (the Telegram voice). Default: always. */
  active?: () => boolean;
}

export interface AgentPresence {
  /** Looks at every agent now and raises or resolves alerts (also run on a timer and when an agent connects); resolves when done. */
  check(): Promise<void>;
  stop(): void;
}

/** Starts watching agents' presence; the first look is immediate (alerts open before a restart are found in the store). */
export function startAgentPresence(deps: AgentPresenceDeps): AgentPresence {
  const { store, events, logger, now, graceMs } = deps;
  const watchingSince = now();
  const connectedAt = new Map<string, number>();
  let stopped = false;
  /** Looks run one after another, as they did on the synchronous store: two never raise the same alert. */
  let looking: Promise<void> = Promise.resolve();

  const toAgent = (agent: AgentState): PresenceAgent => ({
    agentId: agent.agentId,
    online: agent.online,
    lastSeen: agent.lastSeen.getTime(),
    revoked: agent.revokedAt !== undefined,
    connectedAt: connectedAt.get(agent.agentId),
  });
  const toOpen = (record: AlertRecord): OpenOfflineAlert => ({ alertId: record.alertId, agentId: record.agentId });

  async function apply(effect: PresenceEffect, at: number): Promise<void> {
    if (effect.type === "raise") {
      const alert = offlineAlert(effect.agentId, effect.offlineSince, at);
      const stored = await store.upsertAlert(effect.agentId, alert, new Date(at));
      logger.warn({ agentId: effect.agentId, alertId: alert.id, offlineSince: new Date(effect.offlineSince).toISOString() }, `agent ${effect.agentId} offline for longer than ${Math.round(graceMs / 1000)} s`);
      if (stored.outcome !== "unchanged") events.publish({ type: "alert", alertId: alert.id, agentId: effect.agentId, outcome: stored.outcome });
      return;
    }
    const record = await store.getAlert(effect.alertId);
    if (!record) return;
    const stored = await store.upsertAlert(effect.agentId, resolvedOfflineAlert(record.alert, effect.backOnlineAt, at), new Date(at));
    logger.info({ agentId: effect.agentId, alertId: effect.alertId, backOnlineAt: new Date(effect.backOnlineAt).toISOString() }, `agent ${effect.agentId} back online; its offline alert is resolved`);
    if (stored.outcome !== "unchanged") events.publish({ type: "alert", alertId: effect.alertId, agentId: effect.agentId, outcome: stored.outcome });
  }

  function run(decide: (at: number) => Promise<PresenceEffect[]>): Promise<void> {
    looking = looking.then(async () => {
      if (stopped || deps.active?.() === false) return;
      const at = now();
      try {
        for (const effect of await decide(at)) await apply(effect, at);
      } catch (err) {
        logger.error({ err: describeError(err) }, "agent presence check failed; retried on the next tick");
      }
    });
    return looking;
  }

  /** Every agent: raises the alerts of agents silent past the grace period, resolves those of agents back. */
  function check(): Promise<void> {
    return run(async (at) =>
      decidePresence({
        agents: (await store.listAgentStates()).map(toAgent),
        open: (await store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE)).map(toOpen),
        now: at,
        graceMs,
        watchingSince,
      }),
    );
  }

  /**
   * Agents that just connected: resolves their open offline alerts, if any.
   * Connecting never raises one, so this is one indexed query for all the
   * agents connected since the last look (they are gathered while one
   * runs) — thousands of agents reconnecting after a controller restart
   * must not each rescan every agent, nor each wait for a query of its own.
   */
  let connected = new Set<string>();
  let lookPending = false;
  function checkConnected(agentId: string): void {
    connected.add(agentId);
    if (lookPending) return;
    lookPending = true;
    // Skipped while inactive (a standby replica): the ids wait for the next look.
    void run(async (at) => {
      lookPending = false;
      const ids = connected;
      connected = new Set();
      if (ids.size === 0) return [];
      const open = (await store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE)).filter((alert) => ids.has(alert.agentId));
      if (open.length === 0) return [];
      const agents = (await store.listAgentStates([...new Set(open.map((alert) => alert.agentId))])).map(toAgent);
      if (agents.length === 0) return [];
      return decidePresence({ agents, open: open.map(toOpen), now: at, graceMs, watchingSince });
    }).finally(() => (lookPending = false));
  }

  const unsubscribe = events.subscribe((event) => {
    if (event.type !== "agent") return;
    if (event.online) connectedAt.set(event.agentId, now());
    else connectedAt.delete(event.agentId);
    // After the publisher's turn: the bridge and metrics see the agent first.
    if (event.online) setImmediate(() => checkConnected(event.agentId));
  });
  const timer = startWatchTimer(check, deps.checkEveryMs ?? defaultCheckEvery(graceMs));

  return {
    check,
    stop() {
      stopped = true;
      timer.stop();
      unsubscribe();
    },
  };
}
