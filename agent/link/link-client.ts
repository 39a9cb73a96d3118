import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AgentMessageSchema, type AgentMessage, type ControllerMessage, type Hello, type Welcome } from "../../gen/secarc/v1/agent_service_pb.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { TlsMaterial } from "../../common/tls.js";
import type { DetectorSource } from "../../gen/secarc/v1/alert_pb.js";
import type { AgentLinkConfig } from "../config.js";
import { createConnectedWaiters } from "./connected-waiters.js";
import {
  createDialer,
  dropSession,
  endSession,
  heartbeatIntervalMs,
  heartbeatMessage,
  sendLimit,
  writeMessage,
  type Session,
} from "./link-session.js";
import { createReconnectPlan } from "./reconnect-plan.js";
import { resendPending, type PendingSource } from "./resend.js";

export type { PendingSource } from "./resend.js";

/**
 * The agent's end of the link: one bidirectional `AgentService.Connect`
 * stream to one of the controller endpoints over mutual TLS, reopened with
 * backoff whenever it ends (grpc-js reports a failed stream through
 * `status`/`error` and never reopens it by itself) — on the next endpoint
 * after a failure, on one drawn at random after the controller asked to
 * rebalance (reconnect-plan.ts).
 *
 * Each session: open the stream → send Hello → wait for Welcome (at most
 * `connectTimeout`) → send everything `pending()` returns, oldest first →
 * then live messages and a Heartbeat every `Welcome.heartbeat_interval`.
 * Controller messages after Welcome go to `onMessage`.
 */
export interface LinkClient {
  /** Starts connecting; sessions follow one another until `close`. */
  start(): void;
  /** Writes a message to the live session; false when there is none (it stays in the outbox) or it is too large. */
  send(message: AgentMessage): boolean;
  isConnected(): boolean;
  /** The current session's Welcome, while connected. */
  welcome(): Welcome | undefined;
  /** The endpoint ("host:port") of the current session, while connected. */
  endpoint(): string | undefined;
  /**
   * TLS handshakes with the controllers so far, how many of them resumed a
   * session instead of a full handshake, and how many dials of closed
   * sessions' channels were stopped (tls-resumption.ts).
   */
  tlsHandshakes(): { handshakes: number; resumed: number; abandoned: number };
  /** Resolves once a session is welcomed; rejects with a "timeout" SecarcError after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<void>;
  /** Ends the session (half-close, then cancel) and stops reconnecting. */
  close(): Promise<void>;
}

export interface LinkClientOptions {
  /** The controller endpoints, "host:port" each (replicas, or one name behind a load balancer); at least one. */
  addresses: readonly string[];
  /** TLS name to verify the controllers' certificates against, when not the host of each address. */
  serverName?: string;
  tls: TlsMaterial;
  link: AgentLinkConfig;
  /** Builds the Hello of each new session (it lists the results still unacknowledged). */
  hello(): Hello;
  /**
   * The outbox to resend after Welcome: pages of up to `limit` messages with
   * seq > `afterSeq`, oldest first, up to `lastSeq()` as it was at Welcome
   * (later entries are sent live).
   */
  pending: PendingSource;
  /** Current outbox depth, for heartbeats. */
  outboxDepth(): number;
  /** The detectors' sources, for heartbeats. Default: none reported. */
  detectorSources?(): DetectorSource[];
  /** Every controller message after Welcome. */
  onMessage(message: ControllerMessage): void;
  /** Called when a session is welcomed and when it ends. */
  onStateChange?(connected: boolean): void;
  logger: Logger;
  now: () => number;
  /** A welcomed session that lasted this long resets the backoff. Default: 5000 ms. */
  healthyAfterMs?: number;
  /** Random source for the endpoint order and the backoff jitter. Default: Math.random. */
  random?: () => number;
}

/** The session's state, as a discriminated union. */
type State =
  | { kind: "idle" }
  | { kind: "connecting"; session: Session }
  | { kind: "connected"; session: Session; welcome: Welcome; heartbeat: NodeJS.Timeout }
  | { kind: "waiting"; timer: NodeJS.Timeout }
  | { kind: "closed" };

export function createLinkClient(options: LinkClientOptions): LinkClient {
  const { link, logger, now } = options;
  const plan = createReconnectPlan({
    addresses: options.addresses,
    initialMs: link.backoffInitial,
    maxMs: link.backoffMax,
    healthyAfterMs: options.healthyAfterMs ?? 5_000,
    now,
    random: options.random ?? Math.random,
  });
  const dialer = createDialer(options.tls, link, options.serverName);
  const waiters = createConnectedWaiters(options.addresses.join(", "));
  let state: State = { kind: "idle" };
  let sessionCounter = 0;

  const setState = (next: State): void => {
    const was = state.kind === "connected";
    state = next;
    const is = state.kind === "connected";
    if (was !== is) options.onStateChange?.(is);
    if (is) waiters.release();
  };
  const current = (session: Session): boolean => (state.kind === "connecting" || state.kind === "connected") && state.session === session;
  const write = (session: Session, message: AgentMessage, limit: number): boolean => writeMessage(session, message, limit, logger);

  const open = (address: string): void => {
    if (state.kind === "closed") return;
    const welcomeTimer = setTimeout(() => {
      logger.warn({ controller: address, timeoutMs: link.connectTimeout }, "no Welcome from the controller in time; reconnecting");
      end(session, "no welcome", false);
    }, link.connectTimeout);
    const session: Session = dialer.open(address, ++sessionCounter, now(), welcomeTimer, {
      data: (message) => receive(session, message),
      ended: (reason, rebalance) => end(session, reason, rebalance),
    });
    setState({ kind: "connecting", session });
    write(session, create(AgentMessageSchema, { payload: { case: "hello", value: options.hello() } }), link.maxMessageBytes);
  };

  const receive = (session: Session, message: ControllerMessage): void => {
    if (!current(session)) return;
    if (state.kind === "connecting") {
      if (message.payload.case === "welcome") welcomed(session, message.payload.value);
      else logger.warn({ payload: message.payload.case }, "controller message before Welcome; ignored");
      return;
    }
    if (message.payload.case === "welcome") {
      logger.warn("second Welcome on one stream; ignored");
      return;
    }
    deliver(options.onMessage, message, logger);
  };

  const welcomed = (session: Session, welcome: Welcome): void => {
    clearTimeout(session.welcomeTimer);
    session.welcomedAt = now();
    plan.welcomed();
    const intervalMs = heartbeatIntervalMs(welcome);
    const heartbeat = setInterval(() => {
      if (current(session)) write(session, heartbeatMessage(now(), options.outboxDepth(), options.detectorSources?.() ?? []), link.maxMessageBytes);
    }, intervalMs);
    heartbeat.unref();
    setState({ kind: "connected", session, welcome, heartbeat });
    const upTo = options.pending.lastSeq();
    logWelcome(logger, session.address, welcome, intervalMs);
    void resendPending(session, upTo, sendLimit(welcome, link), { pending: options.pending, current, logger });
  };

  const end = (session: Session, reason: string, rebalance: boolean): void => {
    if (!current(session)) return;
    clearTimeout(session.welcomeTimer);
    if (state.kind === "connected") clearInterval(state.heartbeat);
    dropSession(session);
    // Only a welcomed session can be rebalanced; anything else is a failure.
    const next = plan.ended(rebalance && session.welcomedAt !== undefined);
    const fields = { controller: session.address, reason, attempt: next.attempt, next: next.address, retryInMs: next.delayMs, sessionMs: next.sessionMs };
    if (rebalance && session.welcomedAt !== undefined) logger.info(fields, "the controller ended the stream to rebalance; reconnecting");
    else logger.warn(fields, session.welcomedAt === undefined ? "could not open a stream to the controller" : "stream to the controller ended");
    setState({ kind: "waiting", timer: setTimeout(() => open(next.address), next.delayMs) });
  };

  return {
    start() {
      if (state.kind === "idle") open(plan.current());
    },
    send: (message) => state.kind === "connected" && write(state.session, message, sendLimit(state.welcome, link)),
    isConnected: () => state.kind === "connected",
    welcome: () => (state.kind === "connected" ? state.welcome : undefined),
    endpoint: () => (state.kind === "connected" ? state.session.address : undefined),
    tlsHandshakes: () => dialer.tlsHandshakes(),
    waitConnected: (timeoutMs) => (state.kind === "connected" ? Promise.resolve() : waiters.wait(timeoutMs)),
    async close() {
      const before = state;
      setState({ kind: "closed" });
      if (before.kind === "waiting") clearTimeout(before.timer);
      if (before.kind !== "connecting" && before.kind !== "connected") return;
      if (before.kind === "connected") clearInterval(before.heartbeat);
      await endSession(before.session);
    },
  };
}

/** Hands a controller message to the agent; a handler that throws is logged, the session goes on. */
function deliver(onMessage: (message: ControllerMessage) => void, message: ControllerMessage, logger: Logger): void {
  try {
    onMessage(message);
  } catch (err) {
    logger.error({ err: describeError(err), payload: message.payload.case }, "handling a controller message failed");
  }
}

function logWelcome(logger: Logger, address: string, welcome: Welcome, heartbeatMs: number): void {
  const serverTime = welcome.serverTime ? new Date(timestampMs(welcome.serverTime)).toISOString() : undefined;
  logger.info({ controller: address, sessionId: welcome.sessionId, controllerVersion: welcome.controllerVersion, serverTime, heartbeatMs }, "connected to the controller");
}
