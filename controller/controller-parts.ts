import { dirname, join } from "node:path";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import type { loadTlsMaterial } from "../common/tls.js";
import type { ControllerConfig } from "./config.js";
import type { ActionRequests } from "./domain/action-requests.js";
import { startAgentPresence } from "./domain/agent-presence.js";
import { startDetectorBlindWatch } from "./domain/detector-blind.js";
import type { AgentLabels } from "./domain/agent-labels.js";
import type { EventBus } from "./domain/events.js";
import { watchCrlFile } from "./link/crl-watch.js";
import { loadTicketSecret } from "./link/ticket-keys.js";
import { startLinkServer, type LinkServer } from "./link/link-server.js";
import type { RevocationList } from "./link/revocation-list.js";
import type { SessionRegistry } from "./link/session-registry.js";
import { createControllerMetrics, type ControllerMetrics } from "./metrics/metrics.js";
import { startMetricsServer } from "./metrics/metrics-server.js";
import type { ReplicaCoordination } from "./replicas/replica-coordination.js";
import type { OpenedStore } from "./store/open-store.js";
import type { StoreHealth, StoreHealthView } from "./store/store-health.js";
import type { Store } from "./store/store.js";
import { startAdminServer } from "./admin/admin-server.js";
import { buildStatusReport } from "./admin/status-report.js";
import { createReloadableParts, type ReloadableParts, type ReloadablePartsDeps } from "./reloadable-parts.js";
import type { TelegramBridge } from "./telegram/bridge.js";
import type { StartControllerOptions } from "./controller.js";
import { SECARC_VERSION } from "../common/version.js";

/**
 * The parts of the controller, each started by one function that pushes
 * its own stop onto the core's stop list (startController, in
 * controller.ts, calls them in order).
 */

/** What the controller's parts are built from, and the list that stops them. */
export interface ControllerCore {
  config: ControllerConfig;
  options: StartControllerOptions;
  now: () => number;
  logger: Logger;
  store: Store;
  /** Which store it is (SQLite or PostgreSQL) and where, for what only one of them has. */
  opened: OpenedStore;
  health: StoreHealth;
  events: EventBus;
  registry: SessionRegistry;
  actions: ActionRequests;
  /** Each agent's labels from its last Hello (routes and silences match on them). */
  labels: AgentLabels;
  /** On PostgreSQL: what this replica shares with the others (replica-parts.ts); undefined on SQLite. */
  replicas?: ReplicaCoordination | undefined;
  stops: StopList;
  /** Set by close({ exiting: true }) before the stops run: the process exits next. */
  shutdown: { exiting: boolean };
}

export interface StopList {
  push(...stops: Array<() => Promise<void> | void>): void;
  /** Runs every stop in reverse order of push, logging (not throwing) failures. */
  stopAll(): Promise<void>;
}

export function createStopList(logger: Logger): StopList {
  const stops: Array<() => Promise<void> | void> = [];
  return {
    push: (...more) => void stops.push(...more),
    async stopAll() {
      for (const stop of stops.reverse()) {
        try {
          await stop();
        } catch (err) {
          logger.error({ err: describeError(err) }, "error while stopping the controller");
        }
      }
      stops.length = 0;
    },
  };
}

/** Agents seen online by a previous run lost their stream with it; the CRL in force marks the revoked. */
export async function settlePreviousRun(core: ControllerCore, revocation: RevocationList | undefined): Promise<void> {
  const { store, health, now, logger } = core;
  try {
    // Replicas settle their own: a dead replica's agents when it is reaped, orphans at start (replica-heartbeat.ts).
    // One transaction (one commit) for all of them: the link listens only after this, and 10,000 commits
    // of their own kept a restarted controller deaf long enough to push its agents into long backoffs.
    if (!core.replicas) {
      const at = new Date(now());
      await store.transaction(async (tx) => {
        for (const agent of await tx.listAgentStates()) if (agent.online) await tx.agentDisconnected(agent.agentId, at);
      });
    }
  } catch (err) {
    // A full disk is a state: the controller starts, serves what it can and acks nothing until writes succeed.
    if (!health.failed(err, "start")) throw err;
  }
  await markRevoked(store, revocation?.serials ?? [], now(), logger);
}

type ProbeInput = Parameters<TelegramBridge["probe"]>[0];

export async function startLink(
  core: ControllerCore,
  tls: ReturnType<typeof loadTlsMaterial>,
  revocation: RevocationList | undefined,
  probe: (input: ProbeInput) => ReturnType<TelegramBridge["probe"]> | undefined,
): Promise<LinkServer> {
  const { config, options, now } = core;
  const notConfigured = config.telegram ? "not running on this controller" : "not configured";
  const link = await startLinkServer({
    host: config.listen.host,
    port: config.listen.port,
    tls,
    ...(revocation ? { revocation } : {}),
    ...(config.tls.ticketKeyFile ? { ticketSecret: loadTicketSecret(config.tls.ticketKeyFile) } : {}),
    store: core.store,
    registry: core.registry,
    events: core.events,
    logger: core.logger,
    now,
    heartbeatIntervalMs: config.link.heartbeatInterval,
    pingIntervalMs: config.link.pingInterval,
    pingTimeoutMs: config.link.pingTimeout,
    maxMessageBytes: config.link.maxMessageBytes,
    maxStreamAgeMs: config.link.maxStreamAge,
    maxStreamAgeJitterMs: config.link.maxStreamAgeJitter,
    maxOpeningConnections: config.link.maxOpeningConnections,
    controllerVersion: SECARC_VERSION,
    storeHealth: core.health,
    ...(core.replicas ? { replicas: core.replicas.link } : {}),
    probe: async (input) => (probe(input) ?? [{ name: "telegram", target: "", ok: false, detail: notConfigured, durationMs: now() - input.receivedAt }]),
  });
  core.stops.push(() => link.close({ exiting: core.shutdown.exiting }));
  return link;
}

/** A new CRL is put in force without a restart: handshakes, Hellos and live streams. */
export function followCrl(core: ControllerCore, path: string, ca: Buffer, current: RevocationList, link: LinkServer): void {
  const { store, now, logger } = core;
  const watch = watchCrlFile({
    path,
    ca,
    current,
    logger: logger.child({ component: "crl" }),
    now,
    onChange(list) {
      const ended = link.setRevocationList(list);
      void markRevoked(store, list.serials, now(), logger);
      if (ended.length > 0) logger.warn({ agents: ended }, `revoked agents disconnected: ${ended.join(", ")}`);
    },
  });
  core.stops.push(() => watch.stop());
}

export async function startMetrics(core: ControllerCore, link?: Pick<LinkServer, "admission" | "tlsHandshakes">): Promise<{ metrics: ControllerMetrics; port: number } | undefined> {
  const { config, events, store, now, health, logger } = core;
  if (!config.metrics) return undefined;
  const metrics = createControllerMetrics({ events, store, now, storeHealth: () => health.view(), ...(link ? { linkAdmission: () => link.admission(), linkHandshakes: () => link.tlsHandshakes() } : {}) });
  core.stops.push(() => metrics.close());
  const server = await startMetricsServer({ registry: metrics.registry, host: config.metrics.listen.host, port: config.metrics.listen.port });
  core.stops.push(() => server.close());
  logger.info({ host: config.metrics.listen.host, port: server.port }, "metrics served");
  return { metrics, port: server.port };
}

/** The Telegram bridge and the no-answer policy, which a reload starts again; the bridge is started here. */
export async function startTelegramParts(core: ControllerCore, metrics: ControllerMetrics | undefined, silences?: ReloadablePartsDeps["silences"], fleet?: ReloadablePartsDeps["fleet"]): Promise<ReloadableParts> {
  const { options, store, events, actions, logger, now, health } = core;
  const parts = createReloadableParts(
    {
      store, events, actions, logger, now, metrics, labels: core.labels, startTelegram: options.startTelegram ?? true,
      ...(options.policyTimers ? { policyTimers: options.policyTimers } : {}), ...(silences ? { silences } : {}), ...(fleet ? { fleet } : {}),
      ...(core.replicas ? { voice: core.replicas.telegram } : {}),
    },
    core.config,
  );
  await parts.startBridge();
  core.stops.push(() => parts.stopBridge());
  core.stops.push(
    health.onChange((view) => {
      const running = parts.bridge();
      if (!running) return;
      // Updates the bridge could not queue while the store was failing are queued now.
      if (view.state !== "failing") running.resume();
      void warnTelegram(running, view, logger);
    }),
  );
  return parts;
}

/** After the bridge, so that an offline alert raised at start reaches it. */
export function startWatches(core: ControllerCore): void {
  const { store, events, logger, now, config } = core;
  const voice = core.replicas?.telegram;
  const presence = startAgentPresence({
    store, events, logger: logger.child({ component: "presence" }), now, graceMs: config.link.offlineAlertAfter,
    ...(voice ? { active: () => voice.speaking() !== undefined } : {}),
  });
  core.stops.push(() => presence.stop());
  const blind = startDetectorBlindWatch({ store, events, logger: logger.child({ component: "detector-sources" }), now, afterMs: config.detectors.blindAlertAfter });
  core.stops.push(() => blind.stop());
}

/** `secarc status` asks here: a unix socket beside the store, mode 0600. Returns its path. */
export async function startAdmin(core: ControllerCore, parts: ReloadableParts): Promise<string> {
  const { config, store, registry, health, logger, now } = core;
  const adminSocket = config.admin.socket ?? join(dirname(config.store.path), "admin.sock");
  const startedAt = now();
  const admin = await startAdminServer({
    path: adminSocket,
    logger,
    status: () =>
      buildStatusReport({
        store, onlineAgents: registry.agentIds(), telegram: parts.bridge(), telegramConfigured: config.telegram !== undefined,
        ...(core.replicas ? { telegramElsewhere: core.replicas.telegram.speaking() === undefined } : {}),
        storePath: core.opened.where, storeHealth: health.view(), startedAt, now: now(),
      }),
  });
  core.stops.push(() => admin.close());
  return adminSocket;
}

/** Records which agents the CRL revokes; a store failure is logged (the link refuses them regardless). */
export async function markRevoked(store: Store, serials: readonly string[], now: number, logger: Logger): Promise<void> {
  try {
    const marked = await store.setRevokedSerials(serials, new Date(now));
    if (marked.length > 0) logger.warn({ agents: marked }, `agents whose certificate is revoked: ${marked.join(", ")}`);
  } catch (err) {
    logger.error({ err: describeError(err) }, "could not record revoked agents in the store");
  }
}

/** One Telegram message per change of the store's state; sent without the store, so it works while the disk is full. */
export async function warnTelegram(bridge: TelegramBridge, view: StoreHealthView, logger: Logger): Promise<void> {
  const text =
    view.state === "ok"
      ? `✅ SecARC controller: store writable again on ${view.dir}; agents deliver their waiting alerts.`
      : `⚠️ SecARC controller: ${view.state === "failing" ? `${view.detail.replace(/ \(SQLITE.*$/, "")}. Alerts are not acknowledged; agents keep them until the store can be written again.` : view.detail}`;
  const sent = await bridge.warn(text).catch(() => [false]);
  if (!sent.every(Boolean)) logger.warn({ store: view.state }, "telegram: the store warning could not be sent to every chat");
}
