import { readFile } from "node:fs/promises";
import { SecarcError, describeError } from "../common/errors.js";
import { createLogger, type Logger } from "../common/log.js";
import { loadTlsMaterial, logCertificateExpiry } from "../common/tls.js";
import type { ControllerConfig } from "./config.js";
import { createActionRequests, type ActionRequests } from "./domain/action-requests.js";
import { createAgentLabels } from "./domain/agent-labels.js";
import { createEventBus, type EventBus } from "./domain/events.js";
import type { PolicyTimers } from "./domain/no-answer-policy.js";
import { parseRevocationList, type RevocationList } from "./link/revocation-list.js";
import { createSessionRegistry } from "./link/session-registry.js";
import { startReplicas } from "./replica-parts.js";
import { openControllerStore } from "./store/open-store.js";
import type { StoreHealthView } from "./store/store-health.js";
import type { Store } from "./store/store.js";
import type { ReloadOutcome } from "./reloadable-parts.js";
import type { TelegramBridge } from "./telegram/bridge.js";
import { SECARC_VERSION } from "../common/version.js";
import {
  createStopList,
  followCrl,
  settlePreviousRun,
  startAdmin,
  startLink,
  startMetrics,
  startTelegramParts,
  startWatches,
  type ControllerCore,
} from "./controller-parts.js";
import type { SilenceWatch } from "./domain/silence-watch.js";
import { loadSilences } from "./silence-parts.js";
import type { FleetBlocks } from "./domain/fleet-blocks.js";
import { startFleetBlocks } from "./fleet-parts.js";

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
  /**
   * The event bus the controller's parts share (alert stored, action
   * changed, ...). Default: a new one. Listeners subscribed before the start
   * hear every event, before the controller's own parts.
   */
  events?: EventBus;
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
  /** Silences and maintenance windows in force (tests call check() after moving the clock). */
  silences: SilenceWatch;
  /** Blocks on all servers (controller/domain/fleet-blocks.ts). */
  fleetBlocks: FleetBlocks;
  /** On PostgreSQL, this replica's id (rows of `replicas`, `agent_sessions`, `leases`); undefined on SQLite. */
  replicaId: string | undefined;
  /** Resolves when the Telegram bridge has followed every change of the Telegram lease so far (PostgreSQL). */
  telegramSettled(): Promise<void>;
  /**
   * Stops accepting agents, ends every stream, stops the bridge, closes the
   * store. With `exiting` (the process exits right after, as `secarc
   * controller` on SIGTERM does), connections are left to the exit once
   * their streams' ends are written and the pending writes committed,
   * instead of each being torn down here (about 1 ms of CPU per agent).
   */
  close(options?: { exiting?: boolean }): Promise<void>;
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

  const opened = await openControllerStore(config.store, { init: options.initStore ?? false, now, logger });
  const { store, health } = opened;
  const events = options.events ?? createEventBus((err) => logger.error({ err: describeError(err) }, "an event listener failed"));
  const registry = createSessionRegistry();
  const actions = createActionRequests({ store, delivery: registry, events, now });
  const stops = createStopList(logger);
  stops.push(() => store.close(), () => health.stop());
  const labels = createAgentLabels(events);
  stops.push(() => labels.stop());
  const core: ControllerCore = { config, options, now, logger, store, opened, health, events, registry, actions, labels, stops, shutdown: { exiting: false } };

  try {
    core.replicas = await startReplicas(core);
    await settlePreviousRun(core, revocation);
    await labels.load(store);
    // Before the link, so that every agent's connect is seen.
    const fleetBlocks = startFleetBlocks(core);
    // Probe sessions' test alerts go to the bridge, which starts after the link.
    let bridge: () => TelegramBridge | undefined = () => undefined;
    const link = await startLink(core, tls, revocation, (input) => bridge()?.probe(input));
    if (config.tls.crl && revocation) followCrl(core, config.tls.crl, tls.ca, revocation, link);
    // Before the bridge, which reports its queue depth and 429 answers to it.
    const metrics = await startMetrics(core, link);
    // Loaded before the bridge, which must not post what a silence holds; checked once the bridge listens for their ends.
    const silences = await loadSilences(core);
    const parts = await startTelegramParts(core, metrics?.metrics, silences, fleetBlocks);
    bridge = parts.bridge;
    await silences.watch.start();
    startWatches(core);
    // Last, so that its answers reach a running bridge; it looks at the stored alerts first.
    parts.startPolicy();
    stops.push(() => parts.stopPolicy());
    const adminSocket = await startAdmin(core, parts);

    let closing: Promise<void> | undefined;
    return {
      port: link.port,
      metricsPort: metrics?.port,
      store,
      events,
      actions,
      onlineAgents: () => registry.agentIds(),
      storeHealth: () => health.view(),
      adminSocket,
      silences: silences.watch,
      fleetBlocks,
      replicaId: core.replicas?.replicaId,
      telegramSettled: () => parts.settled(),
      reload: (next) => parts.reload(next),
      close(closeOptions) {
        if (!closing) core.shutdown.exiting = closeOptions?.exiting ?? false;
        closing ??= stops.stopAll().then(() => logger.info("controller stopped"));
        return closing;
      },
    };
  } catch (err) {
    await stops.stopAll();
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

