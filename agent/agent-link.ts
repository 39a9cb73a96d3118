import { hostname } from "node:os";
import { create } from "@bufbuild/protobuf";
import type { ActionResult } from "../gen/secarc/v1/action_pb.js";
import { AgentMessageSchema, HelloSchema, type AgentMessage, type Hello } from "../gen/secarc/v1/agent_service_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import type { Logger } from "../common/log.js";
import type { TlsMaterial } from "../common/tls.js";
import { SECARC_VERSION } from "../common/version.js";
import type { AgentResponders } from "./agent-responders.js";
import type { AgentState } from "./agent-state.js";
import { alertMessage } from "./alert-intake.js";
import type { AgentConfig } from "./config.js";
import { createControllerMessageHandler } from "./controller-messages.js";
import type { Detector } from "./detectors/detector.js";
import { reportSources } from "./detectors/registry.js";
import { localAddresses, type HostFactsReader } from "./host-facts.js";
import { createActionExecutor, type ActionExecutor } from "./journal/action-executor.js";
import { createLinkClient, type LinkClient } from "./link/link-client.js";
import { createDeadLetter } from "./outbox/dead-letter.js";
import type { OutboxEntry } from "./outbox/outbox.js";
import { createOutboxWriter, type OutboxWriter } from "./outbox/outbox-writer.js";
import { createRejectHandler, type RejectHandler } from "./outbox/rejects.js";

/** The agent software's version, sent in Hello. */
export const AGENT_VERSION = SECARC_VERSION;

export interface AgentLinkDeps {
  config: AgentConfig;
  agentId: string;
  tls: TlsMaterial;
  state: AgentState;
  responders: AgentResponders;
  /** The current boot's id, for actions begun by an earlier run. */
  bootId: string;
  /** The detectors running now: their kinds and sources go in Hello and heartbeats. */
  detectors(): Detector[];
  hostFacts: HostFactsReader;
  logger: Logger;
  now: () => number;
}

/** The link to the controller and what sits on it: the outbox writer, the reject handler, the action executor. */
export interface AgentLink {
  link: LinkClient;
  writer: OutboxWriter;
  rejects: RejectHandler;
  executor: ActionExecutor;
}

function resultMessage(result: ActionResult): AgentMessage {
  return create(AgentMessageSchema, { payload: { case: "actionResult", value: result } });
}

function entryMessage(entry: OutboxEntry): AgentMessage {
  return entry.kind === "alert" ? alertMessage(entry.alert) : resultMessage(entry.result);
}

/** The Hello of a new session: who we are, what we detect and carry out, what is still unacknowledged. */
export function buildHello(deps: AgentLinkDeps): Hello {
  const detectors = deps.detectors();
  return create(HelloSchema, {
    agentId: deps.agentId,
    agentVersion: AGENT_VERSION,
    hostname: hostname(),
    detectors: [...new Set(detectors.flatMap((d) => d.kinds))].filter((k) => k !== AlertKind.UNSPECIFIED),
    actions: [...deps.responders.responders.keys()],
    finishedActionIds: deps.state.outbox.pendingResultIds(),
    addresses: localAddresses(),
    unavailableAnswers: deps.responders.unavailable,
    detectorSources: reportSources(detectors),
    hostFacts: deps.hostFacts.hello(),
    labels: deps.config.labels,
    fleetBlockOptOut: !deps.config.fleetBlocks,
  });
}

/**
 * Wires the link: results and alerts are stored first and sent if
 * connected (the outbox resends them after Welcome); controller messages
 * go to the outbox, the reject handler and the action executor.
 */
export function createAgentLink(deps: AgentLinkDeps): AgentLink {
  const { config, state, logger, now } = deps;
  const { outbox, journal } = state;
  const executor = createActionExecutor({
    journal,
    outbox,
    responders: deps.responders.responders,
    bootId: deps.bootId,
    logger,
    now,
    send: (result) => void link.send(resultMessage(result)),
  });
  // Group commit: alerts emitted in one turn of the event loop are written to
  // the outbox in one transaction (one disk sync) at the end of the turn, and
  // only then sent; held in memory while the state file cannot be written.
  const writer = createOutboxWriter({ outbox, send: (alert) => void link.send(alertMessage(alert)), logger });
  const rejects = createRejectHandler({ outbox, writer, deadLetter: createDeadLetter(config.stateDir, now), forgetResult: (actionId) => executor.acknowledged(actionId), logger });
  const link = createLinkClient({
    addresses: config.controller.address,
    serverName: config.controller.serverName,
    tls: deps.tls,
    link: config.link,
    hello: () => buildHello(deps),
    pending: {
      page: (afterSeq, limit) => outbox.page(afterSeq, limit).map((entry) => ({ seq: entry.seq, message: entryMessage(entry) })),
      lastSeq: () => outbox.lastSeq(),
    },
    outboxDepth: () => outbox.depth(),
    detectorSources: () => reportSources(deps.detectors()),
    onMessage: createControllerMessageHandler({ outbox, writer, rejects, executor, logger }),
    // Alerts held in memory (the outbox could not take them) are not in the pages resent after Welcome.
    onStateChange: (connected) => {
      if (connected) writer.resendHeld();
    },
    logger: logger.child({ component: "link" }),
    now,
  });
  return { link, writer, rejects, executor };
}
