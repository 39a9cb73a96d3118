import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SecarcError, describeError } from "../common/errors.js";
import { createLogger, type Logger } from "../common/log.js";
import { loadTlsMaterial, logCertificateExpiry } from "../common/tls.js";
import type { ControllerConfig } from "./config.js";
import { createActionRequests, type ActionRequests } from "./domain/action-requests.js";
import { startAgentPresence } from "./domain/agent-presence.js";
import { startDetectorBlindWatch } from "./domain/detector-blind.js";
import { createEventBus, type EventBus } from "./domain/events.js";
import type { PolicyTimers } from "./domain/no-answer-policy.js";
import type { LinkTestHooks } from "./link/agent-stream.js";
import { watchCrlFile } from "./link/crl-watch.js";
import { startLinkServer } from "./link/link-server.js";
import { parseRevocationList, type RevocationList } from "./link/revocation-list.js";
import { createSessionRegistry } from "./link/session-registry.js";
import { createControllerMetrics, type ControllerMetrics } from "./metrics/metrics.js";
import { startMetricsServer } from "./metrics/metrics-server.js";
import { openSqliteStore } from "./store/sqlite-store.js";
import { createStoreHealth, type StoreHealthView } from "./store/store-health.js";
import type { Store } from "./store/store.js";
import { startAdminServer } from "./admin/admin-server.js";
import { buildStatusReport } from "./admin/status-report.js";
import { createReloadableParts, type ReloadOutcome } from "./reloadable-parts.js";
import type { TelegramBridge } from "./telegram/bridge.js";
import { SECARC_VERSION } from "../common/version.js";

/** The controller software's version, sent to agents in Welcome. */
export const CONTROLLER_VERSION = SECARC_VERSION;

export interface StartControllerOptions {
  config: ControllerConfig;
  /** Default: a logger built from config.log. */
  logger?: Logger;
  /** The clock. Default: Date.now. */
  now?: () => number;
  /** Start the Telegram bridge when config.telegram is set. Default: true. */
  startTelegram?: boolean;
  /** Test-only hooks into the link; never set in production. */
  testHooks?: LinkTestHooks;
  /** Accept a 0-byte store file as a new store (`secarc controller --init`). Default: false. */
  initStore?: boolean;
  /** Timers of the no-answer policy (tests drive them). Default: setTimeout. */
  policyTimers?: PolicyTimers;
}

export interface RunningController {
  /** The port agents connect to (the real one when config.listen.port is 0). */
  port: number;
  store: Store;
  events: EventBus;
  actions: ActionRequests;
  /** The port of GET /metrics (the real one when config.metrics.listen.port is 0); undefined without config.metrics. */
  metricsPort: number | undefined;
  /** Agents with a live stream now. */
  onlineAgents(): string[];
  /** Whether the store can be written, and its free space. */
  storeHealth(): StoreHealthView;
  /**
   * Puts a new, already validated config in force without ending agent
   * streams (SIGHUP): Telegram (chats, allowed users, token, ...) and the
   * no-answer policy start again; keys read once at start are logged.
   */
  reload(config: ControllerConfig): Promise<ReloadOutcome>;
  /** The admin socket's path (`secarc status`). */
  adminSocket: string;
  /** Stops accepting agents, ends every stream, stops the bridge, closes the store. */
  close(): Promise<void>;
}

/**
 * The controller's composition root: store, event bus, session registry,
 * action requests, the agents' TLS endpoint, and the optional Telegram
 * bridge and metrics endpoint, started in that order and stopped in reverse.
 */
export async function startController(options: StartControllerOptions): Promise<RunningController> {
  const { config } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format, name: "controller" });

  const tls = loadTlsMaterial(config.tls, { role: "controller", now: now() });
  const revocation = config.tls.crl ? await loadRevocationList(config.tls.crl, tls.ca, now()) : undefined;
  logCertificateExpiry(logger, "controller", tls.cert, now());

  const store = openSqliteStore(config.store.path, { init: options.initStore ?? false, now });
  const health = createStoreHealth({ path: config.store.path, logger, now });
  if (store.startWriteError) health.failed(store.startWriteError, "start");
  const events = createEventBus((err) => logger.error({ err: describeError(err) }, "an event listener failed"));
  const registry = createSessionRegistry();
  const actions = createActionRequests({ store, delivery: registry, events, now });
  const stops: Array<() => Promise<void> | void> = [() => store.close(), () => health.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err: describeError(err) }, "error while stopping the controller");
      }
    }
    stops.length = 0;
  };

  try {
    // Agents seen online by a previous run whose stream ended with the process.
    try {
      for (const agent of store.listAgents()) if (agent.online) store.agentDisconnected(agent.agentId, new Date(now()));
    } catch (err) {
      // A full disk is a state: the controller starts, serves what it can and acks nothing until writes succeed.
      if (!health.failed(err, "start")) throw err;
    }
    // Which agents' last certificates the CRL in force revokes (none without tls.crl).
    markRevoked(store, revocation?.serials ?? [], now(), logger);

    // Probe sessions' test alerts go to the bridge, which starts after the link.
    let bridge: () => TelegramBridge | undefined = () => undefined;
    const notConfigured = config.telegram ? "not running on this controller" : "not configured";
    const link = await startLinkServer({
      host: config.listen.host,
      port: config.listen.port,
      tls,
      ...(revocation ? { revocation } : {}),
      store,
      registry,
      events,
      logger,
      now,
      heartbeatIntervalMs: config.link.heartbeatInterval,
      pingIntervalMs: config.link.pingInterval,
      pingTimeoutMs: config.link.pingTimeout,
      maxMessageBytes: config.link.maxMessageBytes,
      controllerVersion: CONTROLLER_VERSION,
      ...(options.testHooks ? { hooks: options.testHooks } : {}),
      storeHealth: health,
      probe: async (input) => (bridge()?.probe(input) ?? [{ name: "telegram", target: "", ok: false, detail: notConfigured, durationMs: now() - input.receivedAt }]),
    });
    stops.push(() => link.close());

    // A new CRL is put in force without a restart: handshakes, Hellos and live streams.
    if (config.tls.crl && revocation) {
      const watch = watchCrlFile({
        path: config.tls.crl,
        ca: tls.ca,
        current: revocation,
        logger: logger.child({ component: "crl" }),
        now,
        onChange(list) {
          const ended = link.setRevocationList(list);
          markRevoked(store, list.serials, now(), logger);
          if (ended.length > 0) logger.warn({ agents: ended }, `revoked agents disconnected: ${ended.join(", ")}`);
        },
      });
      stops.push(() => watch.stop());
    }

    // Before the bridge, which reports its queue depth and 429 answers to it.
    let metrics: ControllerMetrics | undefined;
    let metricsPort: number | undefined;
    if (config.metrics) {
      const created = createControllerMetrics({ events, store, now, storeHealth: () => health.view() });
      metrics = created;
      stops.push(() => created.close());
      const server = await startMetricsServer({ registry: created.registry, host: config.metrics.listen.host, port: config.metrics.listen.port });
      stops.push(() => server.close());
      metricsPort = server.port;
      logger.info({ host: config.metrics.listen.host, port: server.port }, "metrics served");
    }

    const parts = createReloadableParts(
      { store, events, actions, logger, now, metrics, startTelegram: options.startTelegram ?? true, ...(options.policyTimers ? { policyTimers: options.policyTimers } : {}) },
      config,
    );
    bridge = parts.bridge;
    await parts.startBridge();
    stops.push(() => parts.stopBridge());
    stops.push(
      health.onChange((view) => {
        const running = parts.bridge();
        if (!running) return;
        // Updates the bridge could not queue while the store was failing are queued now.
        if (view.state !== "failing") running.resume();
        void warnTelegram(running, view, logger);
      }),
    );

    // After the bridge, so that an offline alert raised at start reaches it.
    const presence = startAgentPresence({ store, events, logger: logger.child({ component: "presence" }), now, graceMs: config.link.offlineAlertAfter });
    stops.push(() => presence.stop());
    const blind = startDetectorBlindWatch({ store, events, logger: logger.child({ component: "detector-sources" }), now, afterMs: config.detectors.blindAlertAfter });
    stops.push(() => blind.stop());

    // Last, so that its answers reach a running bridge; it looks at the stored alerts first.
    parts.startPolicy();
    stops.push(() => parts.stopPolicy());

    // `secarc status` asks here: a unix socket beside the store, mode 0600.
    const adminSocket = config.admin.socket ?? join(dirname(config.store.path), "admin.sock");
    const startedAt = now();
    const admin = await startAdminServer({
      path: adminSocket,
      logger,
      status: () => buildStatusReport({ store, onlineAgents: registry.agentIds(), telegram: parts.bridge(), telegramConfigured: config.telegram !== undefined, storePath: config.store.path, storeHealth: health.view(), startedAt, now: now() }),
    });
    stops.push(() => admin.close());

    let closing: Promise<void> | undefined;
    return {
      port: link.port,
      metricsPort,
      store,
      events,
      actions,
      onlineAgents: () => registry.agentIds(),
      storeHealth: () => health.view(),
      adminSocket,
      reload: (next) => parts.reload(next),
      close() {
        closing ??= stopAll().then(() => logger.info("controller stopped"));
        return closing;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function loadRevocationList(path: string, ca: Buffer, now: number): Promise<RevocationList> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new SecarcError("tls_invalid", `cannot read the CRL ${path}: ${describeError(err)}`, { cause: err });
  }
  try {
    return await parseRevocationList(bytes, ca, now);
  } catch (err) {
    throw new SecarcError("tls_invalid", `the CRL ${path} is not usable: ${describeError(err)}`, { cause: err });
  }
}

/** Records which agents the CRL revokes; a store failure is logged (the link refuses them regardless). */
function markRevoked(store: Store, serials: readonly string[], now: number, logger: Logger): void {
  try {
    const marked = store.setRevokedSerials(serials, new Date(now));
    if (marked.length > 0) logger.warn({ agents: marked }, `agents whose certificate is revoked: ${marked.join(", ")}`);
  } catch (err) {
    logger.error({ err: describeError(err) }, "could not record revoked agents in the store");
  }
}

/** One Telegram message per change of the store's state; sent without the store, so it works while the disk is full. */
async function warnTelegram(bridge: TelegramBridge, view: StoreHealthView, logger: Logger): Promise<void> {
  const text =
    view.state === "ok"
      ? `✅ SecARC controller: store writable again on ${view.dir}; agents deliver their waiting alerts.`
      : `⚠️ SecARC controller: ${view.state === "failing" ? `${view.detail.replace(/ \(SQLITE.*$/, "")}. Alerts are not acknowledged; agents keep them until the store can be written again.` : view.detail}`;
  const sent = await bridge.warn(text).catch(() => [false]);
  if (!sent.every(Boolean)) logger.warn({ store: view.state }, "telegram: the store warning could not be sent to every chat");
}
