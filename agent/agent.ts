import type { Alert } from "../gen/secarc/v1/alert_pb.js";
import { createLogger, type Logger } from "../common/log.js";
import { loadTlsMaterial, logCertificateExpiry } from "../common/tls.js";
import { createAgentLink, type AgentLink } from "./agent-link.js";
import { controllerAddressesOf, createHostResponders, type AgentResponders, type ResponderContext } from "./agent-responders.js";
import { openAgentState, type AgentState } from "./agent-state.js";
import { createAlertRateLimit } from "./outbox/alert-rate-limit.js";
import { createAlertIntake } from "./alert-intake.js";
import { createAlertMute, type AlertMute } from "./alert-mute.js";
import { resolveAgentId, type AgentConfig } from "./config.js";
import type { Detector } from "./detectors/detector.js";
import { createDetectors, reportSources } from "./detectors/registry.js";
import { createHostFacts, type HostFactsReader } from "./host-facts.js";
import { readBootId } from "./journal/boot-id.js";
import { createReloadableDetectors } from "./reloadable-detectors.js";
import { watchDetectorSources } from "./source-watch.js";

export { AGENT_VERSION } from "./agent-link.js";
export { JOURNAL_RETENTION_MS } from "./agent-state.js";

/** How long `close` waits for running actions to finish and store their result. */
const CLOSE_ACTIONS_WAIT_MS = 5_000;

export interface StartAgentOptions {
  config: AgentConfig;
  /** Default: a logger built from config.log. */
  logger?: Logger;
  /** The clock. Default: Date.now. */
  now?: () => number;
  /** Builds the detectors of a `detectors` section, at start and on each reload. Default: the detector registry. */
  detectors?: (section: AgentConfig["detectors"]) => Detector[];
  /**
   * Builds the responders. Default: createHostResponders — the responder
   * registry over config.responders, less the answers this process has no
   * rights for, stored blocks re-applied before the agent connects.
   */
  responders?: (context: ResponderContext) => AgentResponders;
  /** The current boot's id. Default: /proc/sys/kernel/random/boot_id. */
  bootId?: string;
  /** The host's facts for Hello (several agents of one host can share one reader). Default: gathered with systeminformation at start. */
  hostFacts?: HostFactsReader;
}

export interface RunningAgent {
  /** The id in Hello: config.agentId, or the certificate's common name. */
  agentId: string;
  /**
   * Accepts an alert: it is written durably to the outbox at the end of the
   * current event-loop turn, together with the other alerts of that turn
   * (one disk sync), and only then sent if connected. Throws for an invalid
   * or oversized alert, or once the agent is stopping. An alert about an
   * address an ALLOW (or IGNORE) decision mutes is counted and logged at
   * debug instead (see alert-mute.ts).
   */
  emit(alert: Alert): void;
  /** Writes the alerts accepted in this turn to the outbox now. */
  flush(): void;
  isConnected(): boolean;
  /** The controller endpoint ("host:port") of the live stream, while connected. */
  controllerEndpoint(): string | undefined;
  /** Resolves once connected and welcomed; rejects after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<void>;
  /** Alerts and results waiting for the controller's acknowledgement. */
  outboxDepth(): number;
  /** Alerts and results the controller rejected since start (kept in STATE_DIR/dead-letter.jsonl). */
  rejections(): { alerts: number; results: number };
  /** Alerts muted by an ALLOW / IGNORE decision since start, per kind name. */
  mutedAlerts(): Record<string, number>;
  /**
   * Puts a new, validated config in force (SIGHUP): detectors start again
   * with the new section; keys read once at start are logged and resolved.
   */
  reload(config: AgentConfig): Promise<Array<keyof AgentConfig>>;
  /** Stops detectors, the link, waits (bounded) for running actions, closes the state file. */
  close(): Promise<void>;
}

/**
 * Starts an agent: state file (outbox + journal), recovery of actions an
 * earlier run left unfinished, responders (stored blocks back in the kernel
 * before connecting), the link to the controller, and the detector
 * supervisor.
 */
export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const { config } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format, name: "agent" });
  const hostFacts = options.hostFacts ?? createHostFacts({ logger }); // in the background from the start; Hello never waits for it
  const tls = loadTlsMaterial(config.tls, { role: "agent", now: now() });
  logCertificateExpiry(logger, "agent", tls.cert, now());
  const agentId = resolveAgentId(config, tls.cert);
  const controllerAddresses = [...new Set((await Promise.all(config.controller.address.map(controllerAddressesOf))).flat())];

  const bootId = options.bootId ?? readBootId();
  const state = openAgentState(config.stateDir, { now, logger, bootId });
  const buildResponders = options.responders ?? createHostResponders;
  const responders = state.step(() => buildResponders({ config, logger, now, controllerAddresses, stateDir: config.stateDir }));
  await responders.restore();
  // ALLOW / IGNORE entries (STATE_DIR/mutes.json, shared with the responders) mute alerts in emit.
  const alertMute = createAlertMute({ mutes: responders.mutes, now, logger });
  const build = options.detectors ?? ((section: AgentConfig["detectors"]) => createDetectors(section, { logger, now }));
  const detectors = state.step(() => build(config.detectors));

  const wired = createAgentLink({ config, agentId, tls, state, responders, bootId, detectors: () => supervisor.list(), hostFacts, logger, now });
  let closing = false;
  // Above alerts.maxPerMinute new alerts are folded into a counted digest (agent/outbox/alert-rate-limit.ts).
  const rateLimit = createAlertRateLimit({ maxPerMinute: config.alerts.maxPerMinute, periodMs: config.alerts.digestInterval, forward: (alert) => wired.writer.queue(alert), now });
  const emit = createAlertIntake({ maxMessageBytes: config.link.maxMessageBytes, mute: alertMute, writer: { queue: rateLimit.offer }, closing: () => closing });
  const supervisor = createReloadableDetectors({ initial: detectors, emit, logger, now, build });
  logger.info(
    { agentId, controller: config.controller.address, stateDir: config.stateDir, pending: state.outbox.depth(), detectors: detectors.map((d) => d.name), answers: [...responders.responders.keys()] },
    "agent starting",
  );
  wired.link.start();
  await supervisor.start();
  const stopWatch = watchDetectorSources({
    sources: () => reportSources(supervisor.list()),
    outboxDepth: () => state.outbox.depth(),
    isConnected: () => wired.link.isConnected(),
    send: (message) => wired.link.send(message),
    now,
  });
  return runningAgent({ agentId, config, emit, state, wired, alertMute, supervisor, logger }, async () => {
    stopWatch();
    await supervisor.stop();
    closing = true;
    rateLimit.close();
  });
}

interface AgentParts {
  agentId: string;
  config: AgentConfig;
  emit: (alert: Alert) => void;
  state: AgentState;
  wired: AgentLink;
  alertMute: AlertMute;
  supervisor: ReturnType<typeof createReloadableDetectors>;
  logger: Logger;
}

/** The running agent's handle; `stopIntake` stops the detectors and refuses new alerts, the rest of `close` follows. */
function runningAgent(parts: AgentParts, stopIntake: () => Promise<void>): RunningAgent {
  const { agentId, state, wired, supervisor, logger } = parts;
  const { writer, link, executor } = wired;
  let running = parts.config;
  let closed: Promise<void> | undefined;
  return {
    agentId,
    emit: parts.emit,
    flush: () => writer.flush(),
    isConnected: () => link.isConnected(),
    controllerEndpoint: () => link.endpoint(),
    waitConnected: (timeoutMs) => link.waitConnected(timeoutMs),
    outboxDepth: () => state.outbox.depth() + writer.waiting(),
    rejections: () => wired.rejects.counts(),
    mutedAlerts: () => parts.alertMute.counts(),
    async reload(next) {
      const needRestart = await supervisor.reload(running, next); // keys read once at start keep their running values
      running = { ...next, ...Object.fromEntries(needRestart.map((key) => [key, running[key]])) };
      return needRestart;
    },
    close() {
      closed ??= (async () => {
        await stopIntake();
        writer.flush();
        await executor.idle(CLOSE_ACTIONS_WAIT_MS);
        await link.close();
        writer.close();
        state.outbox.stop();
        state.outbox.flushAcks();
        state.db.close();
        logger.info({ agentId }, "agent stopped");
      })();
      return closed;
    },
  };
}
