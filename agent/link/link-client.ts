import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  AgentMessageSchema,
  AgentService,
  type AgentMessage,
  type ControllerMessage,
  type Hello,
  type Welcome,
} from "../../gen/secarc/v1/agent_service_pb.js";
import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { TlsMaterial } from "../../common/tls.js";
import type { DetectorSource } from "../../gen/secarc/v1/alert_pb.js";
import type { AgentLinkConfig } from "../config.js";
import { createBackoff, type Backoff } from "./backoff.js";
import { grpcServiceDefinition } from "./grpc-service.js";

/**
 * The agent's end of the link: one bidirectional `AgentService.Connect`
 * stream to the controller over mutual TLS, reopened with backoff whenever
 * it ends (grpc-js reports a failed stream through `status`/`error` and
 * never reopens it by itself).
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
  /** Resolves once a session is welcomed; rejects with a "timeout" SecarcError after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<void>;
  /** Ends the session (half-close, then cancel) and stops reconnecting. */
  close(): Promise<void>;
}

export interface LinkClientOptions {
  /** "host:port" of the controller. */
  address: string;
  /** TLS name to verify the controller's certificate against, when not the host of `address`. */
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
  /** Random source for backoff jitter. Default: Math.random. */
  random?: () => number;
}

/** Where the messages to resend after a reconnect come from (the outbox). */
export interface PendingSource {
  page(afterSeq: number, limit: number): Array<{ seq: number; message: AgentMessage }>;
  lastSeq(): number;
}

/** Messages read from the outbox at a time when resending. */
const RESEND_PAGE = 256;

/** The session's state, as a discriminated union. */
type State =
  | { kind: "idle" }
  | { kind: "connecting"; session: Session }
  | { kind: "connected"; session: Session; welcome: Welcome; heartbeat: NodeJS.Timeout }
  | { kind: "waiting"; timer: NodeJS.Timeout }
  | { kind: "closed" };

interface Session {
  id: number;
  client: grpc.Client;
  call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>;
  openedAt: number;
  welcomedAt?: number;
  welcomeTimer: NodeJS.Timeout;
}

const CONNECT = grpcServiceDefinition(AgentService).connect!;
const DEFAULT_HEARTBEAT_MS = 10_000;
const MIN_HEARTBEAT_MS = 200;

export function createLinkClient(options: LinkClientOptions): LinkClient {
  const { link, logger, now } = options;
  const backoff: Backoff = createBackoff({ initialMs: link.backoffInitial, maxMs: link.backoffMax, random: options.random });
  const healthyAfterMs = options.healthyAfterMs ?? 5_000;
  const credentials = grpc.credentials.createSsl(options.tls.ca, options.tls.key, options.tls.cert);
  const channelOptions: grpc.ChannelOptions = {
    "grpc.keepalive_time_ms": link.keepaliveTime,
    "grpc.keepalive_timeout_ms": link.keepaliveTimeout,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_send_message_length": link.maxMessageBytes,
    "grpc.max_receive_message_length": link.maxMessageBytes,
    "grpc.initial_reconnect_backoff_ms": link.backoffInitial,
    "grpc.max_reconnect_backoff_ms": link.backoffMax,
    "grpc.use_local_subchannel_pool": 1,
    ...(options.serverName ? { "grpc.ssl_target_name_override": options.serverName, "grpc.default_authority": options.serverName } : {}),
  };

  let state: State = { kind: "idle" };
  let sessionCounter = 0;
  let waiters: Array<() => void> = [];

  const setState = (next: State): void => {
    const was = state.kind === "connected";
    state = next;
    const is = state.kind === "connected";
    if (was !== is) options.onStateChange?.(is);
    if (is) {
      const ready = waiters;
      waiters = [];
      for (const resolve of ready) resolve();
    }
  };

  const write = (session: Session, message: AgentMessage, limit: number): boolean => {
    const size = toBinary(AgentMessageSchema, message).byteLength;
    if (size > limit) {
      logger.error({ size, limit, payload: message.payload.case }, "message larger than the controller accepts; not sent");
      return false;
    }
    try {
      session.call.write(message);
      return true;
    } catch (err) {
      logger.warn({ err: describeError(err) }, "write to the controller stream failed");
      return false;
    }
  };

  const sendLimit = (welcome: Welcome | undefined): number =>
    welcome && welcome.maxMessageBytes > 0 ? Math.min(welcome.maxMessageBytes, link.maxMessageBytes) : link.maxMessageBytes;

  const open = (): void => {
    if (state.kind === "closed") return;
    const id = ++sessionCounter;
    const client = new grpc.Client(options.address, credentials, channelOptions);
    const call = client.makeBidiStreamRequest<AgentMessage, ControllerMessage>(CONNECT.path, CONNECT.requestSerialize, CONNECT.responseDeserialize);
    const session: Session = {
      id,
      client,
      call,
      openedAt: now(),
      welcomeTimer: setTimeout(() => {
        logger.warn({ timeoutMs: link.connectTimeout }, "no Welcome from the controller in time; reconnecting");
        end(session, "no welcome");
      }, link.connectTimeout),
    };
    setState({ kind: "connecting", session });
    call.on("data", (message: ControllerMessage) => receive(session, message));
    call.on("error", (err: grpc.ServiceError) => end(session, `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`));
    call.on("status", (status: grpc.StatusObject) => end(session, `${grpc.status[status.code] ?? status.code}: ${status.details}`));
    call.on("end", () => end(session, "stream ended by the controller"));
    write(session, create(AgentMessageSchema, { payload: { case: "hello", value: options.hello() } }), link.maxMessageBytes);
  };

  const current = (session: Session): boolean =>
    (state.kind === "connecting" || state.kind === "connected") && state.session === session;

  const receive = (session: Session, message: ControllerMessage): void => {
    if (!current(session)) return;
    if (state.kind === "connecting") {
      if (message.payload.case !== "welcome") {
        logger.warn({ payload: message.payload.case }, "controller message before Welcome; ignored");
        return;
      }
      welcomed(session, message.payload.value);
      return;
    }
    if (message.payload.case === "welcome") {
      logger.warn("second Welcome on one stream; ignored");
      return;
    }
    try {
      options.onMessage(message);
    } catch (err) {
      logger.error({ err: describeError(err), payload: message.payload.case }, "handling a controller message failed");
    }
  };

  const welcomed = (session: Session, welcome: Welcome): void => {
    clearTimeout(session.welcomeTimer);
    session.welcomedAt = now();
    const intervalMs = welcome.heartbeatInterval
      ? Math.max(MIN_HEARTBEAT_MS, Number(welcome.heartbeatInterval.seconds) * 1000 + Math.floor(welcome.heartbeatInterval.nanos / 1e6))
      : DEFAULT_HEARTBEAT_MS;
    const heartbeat = setInterval(() => {
      if (!current(session)) return;
      write(session, create(AgentMessageSchema, { payload: { case: "heartbeat", value: { sentAt: timestampFromMs(now()), outboxDepth: options.outboxDepth(), detectorSources: options.detectorSources?.() ?? [] } } }), link.maxMessageBytes);
    }, intervalMs);
    heartbeat.unref();
    setState({ kind: "connected", session, welcome, heartbeat });
    const upTo = options.pending.lastSeq();
    logger.info(
      {
        sessionId: welcome.sessionId,
        controllerVersion: welcome.controllerVersion,
        serverTime: welcome.serverTime ? new Date(timestampMs(welcome.serverTime)).toISOString() : undefined,
        heartbeatMs: intervalMs,
      },
      "connected to the controller",
    );
    void resend(session, upTo, sendLimit(welcome));
  };

  /** Resends the outbox up to `upTo`, page by page, waiting for 'drain' when grpc-js buffers are full. */
  const resend = async (session: Session, upTo: number, limit: number): Promise<void> => {
    let after = 0;
    let sent = 0;
    while (current(session) && after < upTo) {
      const page = options.pending.page(after, RESEND_PAGE).filter((entry) => entry.seq <= upTo);
      if (page.length === 0) break;
      for (const entry of page) {
        if (!current(session)) return;
        after = entry.seq;
        if (write(session, entry.message, limit)) sent += 1;
      }
      if (session.call.writableNeedDrain) await drained(session);
    }
    if (sent > 0) logger.info({ resent: sent }, "outbox resent");
  };

  const drained = (session: Session): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearInterval(poll);
        session.call.off("drain", done);
        resolve();
      };
      session.call.once("drain", done);
      // The session may end instead of draining.
      const poll = setInterval(() => {
        if (!current(session)) done();
      }, 100);
    });

  const end = (session: Session, reason: string): void => {
    if (!current(session)) return;
    clearTimeout(session.welcomeTimer);
    if (state.kind === "connected") clearInterval(state.heartbeat);
    const lasted = session.welcomedAt === undefined ? 0 : now() - session.welcomedAt;
    if (session.welcomedAt !== undefined && lasted >= healthyAfterMs) backoff.reset();
    session.call.removeAllListeners("data");
    session.call.on("error", () => undefined);
    session.call.cancel();
    session.client.close();
    const delay = backoff.next();
    const fields = { reason, attempt: backoff.attempts, retryInMs: delay, sessionMs: lasted };
    if (session.welcomedAt === undefined) logger.warn(fields, "could not open a stream to the controller");
    else logger.warn(fields, "stream to the controller ended");
    const timer = setTimeout(open, delay);
    setState({ kind: "waiting", timer });
  };

  return {
    start() {
      if (state.kind === "idle") open();
    },
    send(message) {
      if (state.kind !== "connected") return false;
      return write(state.session, message, sendLimit(state.welcome));
    },
    isConnected: () => state.kind === "connected",
    welcome: () => (state.kind === "connected" ? state.welcome : undefined),
    waitConnected(timeoutMs) {
      if (state.kind === "connected") return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          reject(new SecarcError("timeout", `not connected to ${options.address} within ${timeoutMs} ms`, { retryable: true }));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push(done);
      });
    },
    async close() {
      const before = state;
      setState({ kind: "closed" });
      if (before.kind === "waiting") clearTimeout(before.timer);
      if (before.kind !== "connecting" && before.kind !== "connected") return;
      const { session } = before;
      clearTimeout(session.welcomeTimer);
      if (before.kind === "connected") clearInterval(before.heartbeat);
      session.call.removeAllListeners("data");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        session.call.on("status", () => {
          clearTimeout(timer);
          resolve();
        });
        session.call.on("error", () => undefined);
        session.call.end();
      });
      session.call.cancel();
      session.client.close();
    },
  };
}
