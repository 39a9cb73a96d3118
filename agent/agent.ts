import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Answer, ActionResult } from "../gen/secarc/v1/action_pb.js";
import { AgentMessageSchema, HeartbeatSchema, HelloSchema, type AgentMessage, type ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { AlertKind, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { SecarcError, describeError } from "../common/errors.js";
import { createLogger, type Logger } from "../common/log.js";
import { loadTlsMaterial, logCertificateExpiry } from "../common/tls.js";
import { resolveAgentId, type AgentConfig } from "./config.js";
import type { Detector } from "./detectors/detector.js";
import { createDetectors, reportSources } from "./detectors/registry.js";
import { createActionExecutor } from "./journal/action-executor.js";
import { readBootId } from "./journal/boot-id.js";
import { createJournal } from "./journal/journal.js";
import { createLinkClient } from "./link/link-client.js";
import { createDeadLetter } from "./outbox/dead-letter.js";
import { createOutbox, type OutboxEntry } from "./outbox/outbox.js";
import { createOutboxWriter } from "./outbox/outbox-writer.js";
import { createRejectHandler } from "./outbox/rejects.js";
import { openStateDb } from "./outbox/state-db.js";
import { createAlertMute } from "./alert-mute.js";
import { createMuteStore } from "./responders/mute-store.js";
import { createResponderSet } from "./responders/registry.js";
import type { Responder } from "./responders/responder.js";
import { readCapabilityFacts, unavailableAnswers, withoutDropped, type CapabilityFacts } from "./capabilities.js";
import { createReloadableDetectors } from "./reloadable-detectors.js";
import { createHostFacts, localAddresses } from "./host-facts.js";
import { SECARC_VERSION } from "../common/version.js";

/** The agent software's version, sent in Hello. */
export const AGENT_VERSION = SECARC_VERSION;

/** Finished actions whose results the controller acknowledged are forgotten after this long. */
export const JOURNAL_RETENTION_MS = 30 * 86_400_000;

/** How often detectors' sources are compared with what the controller was last told. */
const SOURCE_WATCH_MS = 500;

/** How long `close` waits for running actions to finish and store their result. */
const CLOSE_ACTIONS_WAIT_MS = 5_000;

export interface StartAgentOptions {
  config: AgentConfig;
  /** Default: a logger built from config.log. */
  logger?: Logger;
  /** The clock. Default: Date.now. */
  now?: () => number;
  /** Default: built from config.detectors by the detector registry. */
  detectors?: Detector[];
  /** Default: built from config.responders by the responder registry. */
  responders?: Map<Answer, Responder>;
  /** What the rights probe sees (tests inject a non-root process). Default: this process's, unless `responders` are injected. */
  capabilities?: CapabilityFacts;
  /** The current boot's id (tests simulate a reboot with it). Default: /proc/sys/kernel/random/boot_id. */
  bootId?: string;
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
 * earlier run left unfinished, responders, the link to the controller, and
 * the detector supervisor.
 */
export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const { config } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? createLogger({ level: config.log.level, format: config.log.format, name: "agent" });
  const hostFacts = createHostFacts({ logger }); // in the background from the start; Hello never waits for it
  const tls = loadTlsMaterial(config.tls, { role: "agent", now: now() });
  logCertificateExpiry(logger, "agent", tls.cert, now());
  const agentId = resolveAgentId(config, tls.cert);


  const controllerHost = config.controller.address.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  const controllerAddresses = options.responders ? [] : await resolveAddresses(controllerHost);

  const db = openStateDb(config.stateDir);
  /** Runs a start-up step; on failure the state file is closed before the error propagates. */
  const step = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      db.close();
      throw err;
    }
  };
  const bootId = options.bootId ?? readBootId();
  const outbox = createOutbox({ db, now, logger });
  const journal = createJournal({ db, now, bootId });
  for (const result of step(() => journal.recover((r) => outbox.putResult(r)))) {
    logger.warn({ actionId: result.actionId, detail: result.detail }, "action left unfinished by the previous run; not executing again");
  }
  const pruned = step(() => journal.prune(now() - JOURNAL_RETENTION_MS));
  if (pruned > 0) logger.debug({ pruned }, "old journal entries pruned");

  const set = options.responders ? undefined : step(() => createResponderSet(config.responders, { logger, now, controllerAddresses, stateDir: config.stateDir }));
  // Only the answers this host lets the agent carry out are offered; the others are said at start and in Hello.
  const facts = options.capabilities ?? (options.responders ? undefined : readCapabilityFacts());
  const dropped = facts ? unavailableAnswers(facts, config.responders) : [];
  const responders = withoutDropped(options.responders ?? set!.responders, dropped, logger);
  if (set) {
    // Stored blocks are back in the kernel before the agent connects (one transaction).
    const reapplied = await set.firewall.reapply();
    if (reapplied.error !== undefined) logger.error({ error: reapplied.error }, "re-applying blocks failed");
  }
  // ALLOW / IGNORE decisions (STATE_DIR/mutes.json, shared with the responders) mute alerts in emit.
  const alertMute = createAlertMute({ mutes: set?.mutes ?? createMuteStore(config.stateDir, now), now, logger });
  const detectors = options.detectors ?? step(() => createDetectors(config.detectors, { logger, now }));

  const resultMessage = (result: ActionResult): AgentMessage => create(AgentMessageSchema, { payload: { case: "actionResult", value: result } });
  const alertMessage = (alert: Alert): AgentMessage => create(AgentMessageSchema, { payload: { case: "alert", value: alert } });
  const entryMessage = (entry: OutboxEntry): AgentMessage => (entry.kind === "alert" ? alertMessage(entry.alert) : resultMessage(entry.result));

  const executor = createActionExecutor({ journal, outbox, responders, bootId, logger, now, send: (result) => void link.send(resultMessage(result)) });

  const onMessage = (message: ControllerMessage): void => {
    switch (message.payload.case) {
      case "alertAck":
        outbox.ackAlert(message.payload.value.alertId, message.payload.value.revision);
        writer.acked(message.payload.value.alertId, message.payload.value.revision);
        return;
      case "alertReject":
        rejects.alert(message.payload.value);
        return;
      case "resultReject":
        rejects.result(message.payload.value);
        return;
      case "responseAction":
        void executor.handle(message.payload.value).catch((err) => logger.error({ err }, "action handling failed"));
        return;
      case "resultAck":
        executor.acknowledged(message.payload.value.actionId);
        return;
      default:
        logger.warn({ payload: message.payload.case }, "unexpected controller message; ignored");
    }
  };

  const detectorSources = () => reportSources(supervisor.list());
  const kinds = () => [...new Set(supervisor.list().flatMap((d) => d.kinds))].filter((k) => k !== AlertKind.UNSPECIFIED);
  const link = createLinkClient({
    address: config.controller.address,
    serverName: config.controller.serverName,
    tls,
    link: config.link,
    hello: () =>
      create(HelloSchema, {
        agentId,
        agentVersion: AGENT_VERSION,
        hostname: hostname(),
        detectors: kinds(),
        actions: [...responders.keys()],
        finishedActionIds: outbox.pendingResultIds(),
        addresses: localAddresses(),
        unavailableAnswers: dropped,
        detectorSources: detectorSources(),
        hostFacts: hostFacts.hello(),
      }),
    pending: {
      page: (afterSeq, limit) => outbox.page(afterSeq, limit).map((entry) => ({ seq: entry.seq, message: entryMessage(entry) })),
      lastSeq: () => outbox.lastSeq(),
    },
    outboxDepth: () => outbox.depth(),
    detectorSources,
    onMessage,
    // Alerts held in memory (the outbox could not take them) are not in the pages resent after Welcome.
    onStateChange: (connected) => {
      if (connected) writer.resendHeld();
    },
    logger: logger.child({ component: "link" }),
    now,
  });

  // Group commit: alerts emitted in one turn of the event loop are written to
  // the outbox in one transaction (one disk sync) at the end of the turn, and
  // only then sent; held in memory while the state file cannot be written.
  const writer = createOutboxWriter({ outbox, send: (alert) => void link.send(alertMessage(alert)), logger });
  const rejects = createRejectHandler({ outbox, writer, deadLetter: createDeadLetter(config.stateDir, now), forgetResult: (actionId) => executor.acknowledged(actionId), logger });
  let closing = false;
  const flush = (): void => writer.flush();

  const emit = (alert: Alert): void => {
    if (!alert.id) throw new SecarcError("input_invalid", "alert without id");
    if (alert.kind === AlertKind.UNSPECIFIED) throw new SecarcError("input_invalid", `alert ${alert.id} without kind`);
    const size = toBinary(AgentMessageSchema, alertMessage(alert)).byteLength;
    if (size > config.link.maxMessageBytes) {
      throw new SecarcError("input_invalid", `alert ${alert.id} is ${size} bytes, above link.maxMessageBytes ${config.link.maxMessageBytes}`);
    }
    if (closing) throw new SecarcError("unavailable", `agent is stopping; alert ${alert.id} not accepted`);
    // The one place alerts are muted (an allowed address): counted and logged at debug, never queued.
    if (alertMute.muted(alert)) return;
    writer.queue(alert);
  };

  const supervisor = createReloadableDetectors({
    initial: detectors,
    emit,
    logger,
    now,
    ...(options.detectors ? {} : { build: (section: AgentConfig["detectors"]) => createDetectors(section, { logger, now }) }),
  });
  let running = config;
  logger.info(
    { agentId, controller: config.controller.address, stateDir: config.stateDir, pending: outbox.depth(), detectors: detectors.map((d) => d.name), answers: [...responders.keys()] },
    "agent starting",
  );
  link.start();
  await supervisor.start();
  // A detector's source that changes (the log appeared, journalctl died) is told at once, not at the next heartbeat.
  let reportedSources = "";
  const sourceWatch = setInterval(() => {
    const sources = detectorSources();
    const text = JSON.stringify(toJson(HeartbeatSchema, create(HeartbeatSchema, { detectorSources: sources })));
    if (text === reportedSources || !link.isConnected()) return;
    if (link.send(create(AgentMessageSchema, { payload: { case: "heartbeat", value: { sentAt: timestampFromMs(now()), outboxDepth: outbox.depth(), detectorSources: sources } } }))) reportedSources = text;
  }, SOURCE_WATCH_MS);
  sourceWatch.unref();

  let closed: Promise<void> | undefined;
  return {
    agentId,
    emit,
    flush,
    isConnected: () => link.isConnected(),
    waitConnected: (timeoutMs) => link.waitConnected(timeoutMs),
    outboxDepth: () => outbox.depth() + writer.waiting(),
    rejections: () => rejects.counts(),
    mutedAlerts: () => alertMute.counts(),
    async reload(next) {
      const needRestart = await supervisor.reload(running, next); // keys read once at start keep their running values
      running = { ...next, ...Object.fromEntries(needRestart.map((key) => [key, running[key]])) };
      return needRestart;
    },
    close() {
      closed ??= (async () => {
        clearInterval(sourceWatch);
        await supervisor.stop();
        closing = true;
        writer.flush();
        await executor.idle(CLOSE_ACTIONS_WAIT_MS);
        await link.close();
        writer.close();
        outbox.stop();
        outbox.flushAcks();
        db.close();
        logger.info({ agentId }, "agent stopped");
      })();
      return closed;
    },
  };
}

/** The controller's addresses (never blocked by responders); a name is resolved once at start. */
async function resolveAddresses(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((entry) => entry.address);
  } catch {
    return [];
  }
}
