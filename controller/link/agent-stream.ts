import type { X509Certificate } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { describeError } from "../../common/errors.js";
import { newId } from "../../common/ids.js";
import type { Logger } from "../../common/log.js";
import { ControllerMessageSchema, type AgentMessage, type ControllerMessage } from "../../gen/secarc/v1/agent_service_pb.js";
import type { EventBus } from "../domain/events.js";
import type { StoreHealth } from "../store/store-health.js";
import type { ReplicaLinkHooks } from "../replicas/replica-coordination.js";
import type { Store, StoreOperations } from "../store/store.js";
import type { InboundMessage } from "./agent-frame.js";
import { createMessageChannel } from "./message-channel.js";
import { createProbeHandler, type ProbeDelivery } from "./probe-session.js";
import { createSessionOpening, type StreamContext } from "./stream-session.js";
import { createStreamReplica, fencedStatus, type StreamReplica } from "./stream-replica.js";
import { createStreamTrack, createStreamUpkeep } from "./stream-writes.js";
import { peerKey, statusName } from "./stream-values.js";
import { createStreamIntake } from "./stream-intake.js";
import type { LiveSession, SessionRegistry } from "./session-registry.js";
import type { WriteBatcher } from "./write-batcher.js";
import { createWriteWindow } from "./write-window.js";

export { peerKey, statusName, toResponseAction, type PeerInfo } from "./stream-values.js";
export { PROBE_SESSION_MAX_MS, type ProbeDelivery, type ProbeHopInit } from "./probe-session.js";

export interface AgentStreamDeps {
  /** A stream's Welcome went out to the connection from `remote` (admission.ts counts it opened). */
  onWelcomed?: (remote: string) => void;
  store: Store;
  registry: SessionRegistry;
  events: EventBus;
  batcher: WriteBatcher;
  logger: Logger;
  now: () => number;
  /** Told to agents in Welcome. */
  heartbeatIntervalMs: number;
  /** Told to agents in Welcome; enforced by the adapter's readMaxBytes. */
  maxMessageBytes: number;
  controllerVersion: string;
  /** Where probe sessions' test alerts go. Default: a "telegram" hop that says "not configured". */
  probe?: ProbeDelivery;
  /** Tracks running handlers so that shutdown can wait for them. */
  onHandlerStart?: (done: Promise<void>) => void;
  /** Where store write failures are reported (disk full: the stream ends UNAVAILABLE, the agent keeps its alerts). */
  storeHealth?: StoreHealth;
  /** Whether the controller's current CRL revokes the certificate. Default: never. */
  isRevoked?: (certificate: X509Certificate) => boolean;
  /** On PostgreSQL with replicas: the agent's one live session across them (stream-replica.ts). Default: none (one controller). */
  replicas?: ReplicaLinkHooks;
}


/**
 * The AgentService.Connect handler. One call is one stream: Hello first
 * (checked against the certificate identity), then alerts, results and
 * heartbeats from the agent; Welcome, acks and actions to it. Every ack is
 * queued only after the write it confirms has committed.
 */
export function createAgentStreamHandler(deps: AgentStreamDeps) {
  const { registry, events, batcher, logger, now } = deps;

  return function connect(requests: AsyncIterable<InboundMessage>, ctx: HandlerContext): AsyncIterable<ControllerMessage> {
    const peer = ctx.values.get(peerKey);
    const out = createMessageChannel<ControllerMessage>();
    const sessionId = newId(now());
    const log = logger.child({ sessionId, remote: peer.remote, identity: peer.identity });
    // Writes go through the stream's window of the group commit (back-pressure, fair share).
    const writeWindow = createWriteWindow({ batcher, key: sessionId });
    let lastMessageAt = now();
    // While the reader waits for the group commit (back-pressure), the agent's messages wait unread in
    // HTTP/2 flow control: the stream is not silent (the connection's pings still find a dead peer).
    let heldBack = false;
    const lastHeardAt = () => (heldBack ? now() : lastMessageAt);

    const refuse = (code: Code, reason: string): never => {
      log.warn({ reason, status: statusName(code) }, `stream refused: ${reason}`);
      throw new ConnectError(reason, code);
    };
    const send = (payload: MessageInitShape<typeof ControllerMessageSchema>["payload"]) => out.push(create(ControllerMessageSchema, { payload }));

    // With replicas, actions reach the stream through the action router only (fenced, marked sent there).
    const replica = deps.replicas && createStreamReplica({ hooks: deps.replicas, sessionId, log, writeAction: (a) => opening.writeAction(a) !== false, end: (e) => out.close(e) });
    const track = createStreamTrack({ window: writeWindow, out, log, storeHealth: deps.storeHealth, replica });
    const context: StreamContext = { sessionId, peer, log, now, out, send, refuse, track };
    const opening = createSessionOpening(context, { ...deps, replica }, lastHeardAt);

    const handleCommon = (message: AgentMessage): void => commonMessage(message, refuse);

    const handleProbe = createProbeHandler({ log, now, sessionId, send, track, refuse, isClosed: () => out.closed, ...(deps.probe ? { probe: deps.probe } : {}), handleCommon });
    const intake = createStreamIntake({ events, log, send, track, alertPrefetch: deps.store.alertPrefetch });

    let upkeep: ReturnType<typeof createStreamUpkeep> | undefined;
    const handle = (message: AgentMessage, agentId: string, alertBody: Uint8Array | undefined): void => {
      const at = new Date(now());
      upkeep?.(message, agentId, at);
      switch (message.payload.case) {
        case "alert":
          intake.alert(agentId, message.payload.value, at, alertBody);
          return;
        case "actionResult":
          intake.result(agentId, message.payload.value, at);
          return;
        default:
          handleCommon(message);
      }
    };

    const read = async (): Promise<void> => {
      try {
        for await (const inbound of requests) {
          if (out.closed) break;
          lastMessageAt = now();
          const session = opening.session();
          if (!inbound.ok) {
            // An alert or result that does not decode: rejected by id, the stream goes on.
            if (!session) refuse(Code.InvalidArgument, "the first message was not a Hello");
            else if (inbound.case === "alert") intake.malformedAlert(session.agentId, inbound.alertId, inbound.revision, inbound.detail);
            else if (session.probe) refuse(Code.InvalidArgument, "an action result on a probe session");
            else intake.malformedResult(session.agentId, inbound.actionId, inbound.detail, new Date(now()));
            continue;
          }
          const { message } = inbound;
          if (!session) {
            if (message.payload.case !== "hello") refuse(Code.InvalidArgument, "the first message was not a Hello");
            else {
              upkeep = createStreamUpkeep(context, { events, heartbeatIntervalMs: deps.heartbeatIntervalMs, storedSkewMs: opening.storedSkewMs, connectedAt: now(), seen: replica && ((at) => replica.seen(at)), skew: replica && ((skewMs) => replica.skew(skewMs)) });
              await opening.accept(message.payload.value);
            }
            continue;
          }
          if (session.probe) handleProbe(message, session.agentId);
          else handle(message, session.agentId, inbound.alertBody);
          const room = writeWindow.room();
          if (room) {
            heldBack = true;
            await room.finally(() => {
              heldBack = false;
              lastMessageAt = now();
            });
          }
        }
        out.close();
      } catch (err) {
        out.close(readEnded(log, err));
      }
    };

    async function* stream(): AsyncGenerator<ControllerMessage> {
      let resolveDone!: () => void;
      deps.onHandlerStart?.(new Promise<void>((resolve) => (resolveDone = resolve)));
      const onAbort = () => out.close(new ConnectError("stream ended", Code.Canceled));
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      void read();
      try {
        yield* out;
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
        out.close();
        opening.close();
        await writeWindow.idle();
        await recordOffline({ registry, events, batcher, now, log, sessionId, replica }, opening.session());
        await replica?.release();
        resolveDone();
      }
    }
    return stream();
  };
}

/** What both kinds of session treat alike: a heartbeat needs nothing more; a second Hello or an empty message ends the stream. */
function commonMessage(message: AgentMessage, refuse: (code: Code, reason: string) => never): void {
  switch (message.payload.case) {
    case "heartbeat":
      return;
    case "hello":
      refuse(Code.InvalidArgument, "a second Hello on the same stream");
      return;
    default:
      refuse(Code.InvalidArgument, "a message without payload");
  }
}

/** The error a stream's read ended with, logged as it deserves (an agent going away is no news). */
function readEnded(log: Logger, err: unknown): ConnectError {
  const error = ConnectError.from(err);
  if (error.code === Code.ResourceExhausted) log.warn({ reason: error.rawMessage, status: statusName(Code.ResourceExhausted) }, `stream refused: ${error.rawMessage}`);
  else if (!(err instanceof ConnectError) || (error.code !== Code.Canceled && error.code !== Code.Aborted)) log.debug({ err: error.message }, "stream read ended");
  return error;
}

/** At the end of a stream that still held its agent (no newer one took over): the agent offline, stored, then announced. */
async function recordOffline(deps: Pick<AgentStreamDeps, "registry" | "events" | "batcher" | "now"> & { log: Logger; sessionId: string; replica: StreamReplica | undefined }, session: LiveSession | undefined): Promise<void> {
  if (!session || !deps.registry.detach(session)) return;
  const { agentId } = session;
  const at = new Date(deps.now());
  const write = (tx: StoreOperations) => tx.agentDisconnected(agentId, at);
  try {
    await deps.batcher.run(deps.replica ? deps.replica.wrap(write) : write, deps.sessionId);
    deps.events.publish({ type: "agent", agentId, online: false });
  } catch (err) {
    // With replicas, only while this stream still held the agent.
    if (fencedStatus(err)) deps.log.info({ agentId }, "the agent is on a newer stream; not recorded offline");
    else deps.log.error({ err: describeError(err) }, "could not record the agent offline");
  }
  deps.log.info({ agentId }, "agent disconnected");
}
