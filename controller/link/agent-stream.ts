import { cleanLabels } from "../../common/labels.js";
import { hostFactsRecord } from "../host/host-facts.js";
import type { X509Certificate } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { describeError, isSecarcError } from "../../common/errors.js";
import { newId } from "../../common/ids.js";
import type { Logger } from "../../common/log.js";
import { ControllerMessageSchema, type AgentMessage, type ControllerMessage, type Hello } from "../../gen/secarc/v1/agent_service_pb.js";
import { sourceRecords } from "../domain/detector-blind.js";
import type { EventBus } from "../domain/events.js";
import type { StoreHealth } from "../store/store-health.js";
import type { ActionRecord, Store, StoreOperations } from "../store/store.js";
import type { InboundMessage } from "./agent-frame.js";
import { createClockWatch } from "./clock-skew.js";
import { createMessageChannel } from "./message-channel.js";
import { createProbeHandler, PROBE_SESSION_MAX_MS, type ProbeDelivery } from "./probe-session.js";
import { createStreamIntake } from "./stream-intake.js";
import type { LiveSession, SessionRegistry } from "./session-registry.js";
import type { ReplicaLinkHooks } from "../replicas/replica-coordination.js";
import { createStreamReplica, fencedStatus } from "./stream-replica.js";
import { peerKey, statusName, toResponseAction } from "./stream-values.js";
import type { WriteBatcher } from "./write-batcher.js";
import { createWriteWindow } from "./write-window.js";

export { peerKey, statusName, toResponseAction, type PeerInfo } from "./stream-values.js";
export { PROBE_SESSION_MAX_MS, type ProbeDelivery, type ProbeHopInit } from "./probe-session.js";

export interface AgentStreamDeps {
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
  const { store, registry, events, batcher, logger, now } = deps;

  return function connect(requests: AsyncIterable<InboundMessage>, ctx: HandlerContext): AsyncIterable<ControllerMessage> {
    const peer = ctx.values.get(peerKey);
    const out = createMessageChannel<ControllerMessage>();
    const sessionId = newId(now());
    const log = logger.child({ sessionId, remote: peer.remote, identity: peer.identity });
    let session: LiveSession | undefined;
    // Writes go through the stream's window of the group commit (back-pressure, fair share).
    const writeWindow = createWriteWindow({ batcher, key: sessionId });
    let lastSeenWritten = 0;
    let ready = false;
    let lastMessageAt = now();
    let probeTimer: NodeJS.Timeout | undefined;
    let storedSkewMs: number | undefined;
    /** Actions written to this stream: each goes out once per stream, whoever hands it over first. */
    const sentHere = new Set<string>();

    const refuse = (code: Code, reason: string): never => {
      log.warn({ reason, status: statusName(code) }, `stream refused: ${reason}`);
      throw new ConnectError(reason, code);
    };
    const send = (payload: MessageInitShape<typeof ControllerMessageSchema>["payload"]) => out.push(create(ControllerMessageSchema, { payload }));

    /** Writes the action to the stream: "sent" now, "already" sent on it, false when it cannot. */
    const writeAction = (action: ActionRecord): "sent" | "already" | false => {
      if (!ready) return false;
      if (sentHere.has(action.actionId)) return "already";
      if (!send({ case: "responseAction", value: toResponseAction(action) })) return false;
      sentHere.add(action.actionId);
      return "sent";
    };
    // With replicas, actions reach the stream through the action router only (fenced, marked sent there).
    const replica = deps.replicas && createStreamReplica({ hooks: deps.replicas, sessionId, log, writeAction: (a) => writeAction(a) !== false, end: (e) => out.close(e) });
    const sendAction = (action: ActionRecord): boolean => {
      const written = writeAction(action);
      if (written !== "sent") return written === "already";
      if (action.state === "pending") {
        store.markActionSent(action.actionId, new Date(now())).then(
          () => events.publish({ type: "action", actionId: action.actionId, alertId: action.alertId, agentId: action.agentId }),
          (err: unknown) => log.warn({ actionId: action.actionId, err: describeError(err) }, "could not mark the action sent (it stays pending and is sent again on the next connect)"),
        );
      }
      log.info({ actionId: action.actionId, alertId: action.alertId, answer: action.answer }, "action sent");
      return true;
    };

    const track = <T>(write: (tx: StoreOperations) => Promise<T>, then: (value: T) => void): void => {
      writeWindow.run(replica ? replica.wrap(write) : write).then(
        (value) => then(value),
        (err: unknown) => {
          const fenced = fencedStatus(err);
          if (fenced) {
            out.close(fenced); // another stream holds the agent now: nothing is acked here
            log.info({ err: describeError(err) }, "write fenced; ending the stream");
          } else if (isSecarcError(err, "refused")) {
            out.close(new ConnectError(describeError(err), Code.PermissionDenied));
            log.error({ err: describeError(err) }, "store write refused; ending the stream");
          } else if (deps.storeHealth?.failed(err, "link")) {
            // Nothing is acked: the agent keeps its alerts and resends them on its next stream.
            if (!out.closed) log.warn({ err: describeError(err) }, "store cannot be written; ending the stream (the agent retries)");
            out.close(new ConnectError(`${deps.storeHealth.view().detail}; not acknowledged, retry later`, Code.Unavailable));
          } else {
            out.close(new ConnectError(`store write failed: ${describeError(err)}`, Code.Unavailable));
            log.error({ err: describeError(err) }, "store write failed; ending the stream");
          }
        },
      );
    };

    const accept = async (hello: Hello): Promise<void> => {
      if (!peer.identity) refuse(Code.Unauthenticated, "no verified client certificate identity");
      if (hello.agentId !== peer.identity) refuse(Code.PermissionDenied, `Hello claims agent id "${hello.agentId}" but the certificate is for "${peer.identity}"`);
      // The identity is the certificate's name AND a certificate the current
      // CRL does not revoke (the TLS layer checks too, but a connection made
      // before the CRL changed, or a resumed TLS session, would not be).
      if (!peer.certificate) refuse(Code.Unauthenticated, "no verified client certificate");
      if (deps.isRevoked?.(peer.certificate!)) refuse(Code.PermissionDenied, `the certificate of "${peer.identity}" (serial ${peer.serial}) is revoked by the controller's CRL`);
      const agentId = hello.agentId;
      const at = new Date(now());
      lastSeenWritten = at.getTime();
      const live: LiveSession = {
        agentId,
        sessionId,
        probe: hello.probe,
        certificate: peer.certificate,
        get lastMessageAt() {
          return lastMessageAt;
        },
        sendAction: hello.probe || replica ? () => false : sendAction,
        end(error) {
          out.close(error);
        },
      };
      if (hello.probe) {
        // Beside the live session, never in the registry: no presence, no actions.
        session = live;
        probeTimer = setTimeout(() => out.close(new ConnectError(`probe sessions last at most ${PROBE_SESSION_MAX_MS / 1000} s`, Code.DeadlineExceeded)), PROBE_SESSION_MAX_MS);
        probeTimer.unref();
        send({
          case: "welcome",
          value: { controllerVersion: deps.controllerVersion, serverTime: timestampFromMs(at.getTime()), heartbeatInterval: durationFromMs(deps.heartbeatIntervalMs), maxMessageBytes: deps.maxMessageBytes, sessionId, probe: true },
        });
        log.info({ agentId }, "probe session opened (secarc test-alert)");
        return;
      }
      // The newest stream owns the agent from now on; until its Welcome is
      // out, actions stay queued in the store (sendAction returns false) and
      // go out with the unfinished ones right after the Welcome.
      if (replica) {
        await replica.claim(agentId).catch((err: unknown) => refuse(Code.Unavailable, `cannot claim the agent's session: ${describeError(err)}`));
      }
      const replaced = registry.attach(live);
      session = live;
      if (replaced) log.info({ agentId, replacedSession: replaced.sessionId }, "newer stream replaced the older one");
      track(
        async (tx) => {
          const record = await tx.agentConnected({
            agentId,
            version: hello.agentVersion,
            hostname: hello.hostname,
            addresses: hello.addresses,
            actions: hello.actions,
            detectors: hello.detectors,
            at,
            ...(peer.serial ? { certSerial: peer.serial } : {}),
            unavailableAnswers: hello.unavailableAnswers.map((u) => ({ answer: u.answer, reason: u.reason.slice(0, 200) })),
            labels: cleanLabels(hello.labels),
            fleetBlockOptOut: hello.fleetBlockOptOut,
            hostFacts: hostFactsRecord(hello.hostFacts, at),
          });
          await tx.setDetectorSources(agentId, sourceRecords(hello.detectorSources));
          return record;
        },
        (record) => {
          if (out.closed) return;
          storedSkewMs = record.clockSkewMs;
          send({
            case: "welcome",
            value: {
              controllerVersion: deps.controllerVersion,
              serverTime: timestampFromMs(at.getTime()),
              heartbeatInterval: durationFromMs(deps.heartbeatIntervalMs),
              maxMessageBytes: deps.maxMessageBytes,
              sessionId,
            },
          });
          ready = true;
          events.publish({ type: "agent", agentId, online: true, labels: record.labels });
          events.publish({ type: "sources", agentId });
          log.info({ agentId, version: hello.agentVersion, finishedActions: hello.finishedActionIds.length }, "agent connected");
          // Actions whose results the agent says it holds are not resent now:
          // the results follow on this stream. Should they not arrive, the
          // action is still unfinished in the store and is resent on the next
          // connect.
          // Read after `ready`: an action stored meanwhile is either in this
          // list or handed over by its delivery (sentHere keeps it to one send).
          if (replica) return replica.welcomed(hello.finishedActionIds);
          const finished = new Set(hello.finishedActionIds);
          store.listUnfinishedActions(agentId).then(
            (actions) => {
              for (const action of actions) if (!finished.has(action.actionId)) sendAction(action);
            },
            (err: unknown) => log.warn({ agentId, err: describeError(err) }, "could not read the unfinished actions (they are sent on the next connect)"),
          );
        },
      );
    };

    /** What both kinds of session treat alike: a heartbeat needs nothing more; a second Hello or an empty message ends the stream. */
    const handleCommon = (message: AgentMessage): void => {
      switch (message.payload.case) {
        case "heartbeat":
          return;
        case "hello":
          refuse(Code.InvalidArgument, "a second Hello on the same stream");
          return;
        default:
          refuse(Code.InvalidArgument, "a message without payload");
      }
    };

    const handleProbe = createProbeHandler({ log, now, sessionId, send, track, refuse, isClosed: () => out.closed, ...(deps.probe ? { probe: deps.probe } : {}), handleCommon });
    const intake = createStreamIntake({ events, log, send, track });

    let clockWatch: ((sentAtMs: number, receivedAtMs: number) => void) | undefined;
    const handle = (message: AgentMessage, agentId: string): void => {
      const at = new Date(now());
      if (at.getTime() - lastSeenWritten >= deps.heartbeatIntervalMs / 2) {
        lastSeenWritten = at.getTime();
        track((tx) => tx.agentSeen(agentId, at), () => {});
      }
      if (message.payload.case === "heartbeat" && message.payload.value.sentAt) {
        clockWatch ??= createClockWatch({ log, agentId, track, storedSkewMs });
        clockWatch(timestampMs(message.payload.value.sentAt), at.getTime());
      }
      if (message.payload.case === "heartbeat" && message.payload.value.detectorSources.length > 0) {
        const sources = sourceRecords(message.payload.value.detectorSources);
        track((tx) => tx.setDetectorSources(agentId, sources), () => events.publish({ type: "sources", agentId }));
      }
      switch (message.payload.case) {
        case "alert":
          intake.alert(agentId, message.payload.value, at);
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
            else await accept(message.payload.value);
            continue;
          }
          if (session.probe) handleProbe(message, session.agentId);
          else handle(message, session.agentId);
          const room = writeWindow.room();
          if (room) await room;
        }
        out.close();
      } catch (err) {
        const error = ConnectError.from(err);
        if (error.code === Code.ResourceExhausted) log.warn({ reason: error.rawMessage, status: statusName(Code.ResourceExhausted) }, `stream refused: ${error.rawMessage}`);
        else if (!(err instanceof ConnectError) || (error.code !== Code.Canceled && error.code !== Code.Aborted)) log.debug({ err: error.message }, "stream read ended");
        out.close(error);
      }
    };

    const finish = async (): Promise<void> => {
      if (probeTimer) clearTimeout(probeTimer);
      await writeWindow.idle();
      if (session && registry.detach(session)) {
        const { agentId } = session;
        const at = new Date(now());
        try {
          await batcher.run(replica ? replica.wrap((tx) => tx.agentDisconnected(agentId, at)) : (tx) => tx.agentDisconnected(agentId, at), sessionId);
          events.publish({ type: "agent", agentId, online: false });
        } catch (err) {
          if (fencedStatus(err)) log.info({ agentId }, "the agent is on a newer stream; not recorded offline");
          else log.error({ err: describeError(err) }, "could not record the agent offline");
        }
        log.info({ agentId: session.agentId }, "agent disconnected");
      }
      await replica?.release();
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
        await finish();
        resolveDone();
      }
    }
    return stream();
  };
}
