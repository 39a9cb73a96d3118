import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanLabels } from "../../common/labels.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ControllerMessageSchema, Hello } from "../../gen/secarc/v1/agent_service_pb.js";
import { sourceRecords } from "../domain/detector-blind.js";
import type { EventBus } from "../domain/events.js";
import { hostFactsRecord } from "../host/host-facts.js";
import type { ActionRecord, AgentRecord, HelloPrefetchPayload, Prefetched, Store, StoreOperations } from "../store/store.js";
import type { MessageChannel } from "./message-channel.js";
import { PROBE_SESSION_MAX_MS } from "./probe-session.js";
import type { LiveSession, SessionRegistry } from "./session-registry.js";
import type { StreamReplica } from "./stream-replica.js";
import { toResponseAction, type PeerInfo } from "./stream-values.js";

/** What one stream's parts share: who is on the other end, and how to answer, refuse and write. */
export interface StreamContext {
  sessionId: string;
  peer: PeerInfo;
  log: Logger;
  now: () => number;
  /** The stream's outgoing messages; closing it ends the stream. */
  out: Pick<MessageChannel<unknown>, "close" | "closed">;
  send(payload: MessageInitShape<typeof ControllerMessageSchema>["payload"]): boolean;
  /** Ends the stream with `code` (throws). */
  refuse(code: Code, reason: string): never;
  /** Runs a write in the stream's window of the group commit, then `then` after its commit; a failed write ends the stream. `prefetched`: the batch's work for it (write-batcher.ts). */
  track<T>(write: (tx: StoreOperations) => Promise<T>, then: (value: T) => void, prefetched?: readonly Prefetched[]): void;
}

export interface SessionOpeningDeps {
  store: Store;
  registry: SessionRegistry;
  events: EventBus;
  controllerVersion: string;
  heartbeatIntervalMs: number;
  maxMessageBytes: number;
  /** Whether the controller's current CRL revokes the certificate. Default: never. */
  isRevoked?: ((certificate: NonNullable<PeerInfo["certificate"]>) => boolean) | undefined;
  /** The Welcome went out to the connection from `remote` (the link's admission). Default: nothing. */
  onWelcomed?: ((remote: string) => void) | undefined;
  /** On PostgreSQL with replicas: the stream's part in them; its actions come through the action router only. Default: none. */
  replica?: StreamReplica | undefined;
}

/** A stream's session, once its Hello is accepted. */
export interface SessionOpening {
  /** Checks the Hello against the certificate and opens the agent (or probe) session; refuses (throws) otherwise. */
  accept(hello: Hello): Promise<void>;
  /** Writes an action to the stream: "sent" now, "already" sent on it, false while it cannot (before the Welcome, closed). */
  writeAction(action: ActionRecord): "sent" | "already" | false;
  session(): LiveSession | undefined;
  /** The clock skew the store held for the agent when it connected (the clock watch starts from it). */
  storedSkewMs(): number | undefined;
  /** Ends what the session keeps running (a probe session's deadline). */
  close(): void;
}

/**
 * Opening a session on a stream: the Hello checked against the verified
 * certificate (its name, and a CRL that does not revoke it), then either a
 * probe session (`secarc test-alert`: beside the registry, a deadline) or the
 * agent's session — it takes over from an older stream, its Hello is stored,
 * the Welcome goes out after that commit, and then the actions it has not
 * finished. Each action goes out once per stream, whoever hands it over
 * first (the registry's delivery or the unfinished list).
 */
export function createSessionOpening(c: StreamContext, deps: SessionOpeningDeps, lastMessageAt: () => number): SessionOpening {
  const { log, now, send, sessionId, peer } = c;
  let session: LiveSession | undefined;
  let ready = false;
  let storedSkewMs: number | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  const sentHere = new Set<string>();

  const welcome = (at: Date, probe: boolean) => {
    deps.onWelcomed?.(peer.remote);
    send({
      case: "welcome",
      value: {
        controllerVersion: deps.controllerVersion,
        serverTime: timestampFromMs(at.getTime()),
        heartbeatInterval: durationFromMs(deps.heartbeatIntervalMs),
        maxMessageBytes: deps.maxMessageBytes,
        sessionId,
        ...(probe ? { probe: true } : {}),
      },
    });
  };

  function writeAction(action: ActionRecord): "sent" | "already" | false {
    if (!ready) return false;
    if (sentHere.has(action.actionId)) return "already";
    if (!send({ case: "responseAction", value: toResponseAction(action) })) return false;
    sentHere.add(action.actionId);
    return "sent";
  }

  function sendAction(action: ActionRecord): boolean {
    const written = writeAction(action);
    if (written !== "sent") return written === "already";
    if (action.state === "pending") {
      deps.store.markActionSent(action.actionId, new Date(now())).then(
        () => deps.events.publish({ type: "action", actionId: action.actionId, alertId: action.alertId, agentId: action.agentId }),
        (err: unknown) => log.warn({ actionId: action.actionId, err: describeError(err) }, "could not mark the action sent (it stays pending and is sent again on the next connect)"),
      );
    }
    log.info({ actionId: action.actionId, alertId: action.alertId, answer: action.answer }, "action sent");
    return true;
  }

  function checkIdentity(hello: Hello): void {
    if (!peer.identity) c.refuse(Code.Unauthenticated, "no verified client certificate identity");
    if (hello.agentId !== peer.identity) c.refuse(Code.PermissionDenied, `Hello claims agent id "${hello.agentId}" but the certificate is for "${peer.identity}"`);
    // The identity is the certificate's name AND a certificate the current
    // CRL does not revoke (the TLS layer checks too, but a connection made
    // before the CRL changed, or a resumed TLS session, would not be).
    if (!peer.certificate) c.refuse(Code.Unauthenticated, "no verified client certificate");
    if (deps.isRevoked?.(peer.certificate!)) c.refuse(Code.PermissionDenied, `the certificate of "${peer.identity}" (serial ${peer.serial}) is revoked by the controller's CRL`);
  }

  function openProbe(live: LiveSession, at: Date): void {
    // Beside the live session, never in the registry: no presence, no actions.
    session = live;
    probeTimer = setTimeout(() => c.out.close(new ConnectError(`probe sessions last at most ${PROBE_SESSION_MAX_MS / 1000} s`, Code.DeadlineExceeded)), PROBE_SESSION_MAX_MS);
    probeTimer.unref();
    welcome(at, true);
    log.info({ agentId: live.agentId }, "probe session opened (secarc test-alert)");
  }

  /** After the Hello's commit: the Welcome, the agent online, then its unfinished actions. */
  function welcomed(hello: Hello, record: AgentRecord, at: Date): void {
    if (c.out.closed) return;
    const { agentId } = record;
    storedSkewMs = record.clockSkewMs;
    welcome(at, false);
    ready = true;
    deps.events.publish({ type: "agent", agentId, online: true, labels: record.labels, connects: record.connects });
    deps.events.publish({ type: "sources", agentId });
    log.info({ agentId, version: hello.agentVersion, finishedActions: hello.finishedActionIds.length }, "agent connected");
    // With replicas the action router sends them (fenced, marked sent there).
    if (deps.replica) return deps.replica.welcomed(hello.finishedActionIds);
    // Actions whose results the agent says it holds are not resent now: the
    // results follow on this stream. Should they not arrive, the action is
    // still unfinished in the store and is resent on the next connect.
    // Read after `ready`: an action stored meanwhile is either in this list
    // or handed over by its delivery (sentHere keeps it to one send).
    const finished = new Set(hello.finishedActionIds);
    deps.store.listUnfinishedActions(agentId).then(
      (actions) => {
        for (const action of actions) if (!finished.has(action.actionId)) sendAction(action);
      },
      (err: unknown) => log.warn({ agentId, err: describeError(err) }, "could not read the unfinished actions (they are sent on the next connect)"),
    );
  }

  return {
    writeAction,
    async accept(hello) {
      checkIdentity(hello);
      const agentId = hello.agentId;
      const at = new Date(now());
      const live: LiveSession = {
        agentId,
        sessionId,
        probe: hello.probe,
        certificate: peer.certificate,
        get lastMessageAt() {
          return lastMessageAt();
        },
        sendAction: hello.probe || deps.replica ? () => false : sendAction,
        end(error) {
          c.out.close(error);
        },
      };
      if (hello.probe) return openProbe(live, at);
      // The newest stream owns the agent from now on; until its Welcome is
      // out, actions stay queued in the store (sendAction returns false) and
      // go out with the unfinished ones right after the Welcome.
      if (deps.replica) await deps.replica.claim(agentId).catch((err: unknown) => c.refuse(Code.Unavailable, `cannot claim the agent's session: ${describeError(err)}`));
      const replaced = deps.registry.attach(live);
      session = live;
      if (replaced) log.info({ agentId, replacedSession: replaced.sessionId }, "newer stream replaced the older one");
      const connected: HelloPrefetchPayload = {
        input: {
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
        },
        sources: sourceRecords(hello.detectorSources),
      };
      const prefetch = deps.store.helloPrefetch;
      c.track(
        async (tx) => {
          const record = await tx.agentConnected(connected.input);
          await tx.setDetectorSources(agentId, connected.sources);
          return record;
        },
        (record) => welcomed(hello, record, at),
        prefetch && [{ prefetch, payload: connected }],
      );
    },
    session: () => session,
    storedSkewMs: () => storedSkewMs,
    close() {
      if (probeTimer) clearTimeout(probeTimer);
    },
  };
}
