import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AgentMessageSchema, AgentService, type AgentMessage, type ControllerMessage, type Welcome } from "../../gen/secarc/v1/agent_service_pb.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { TlsMaterial } from "../../common/tls.js";
import type { DetectorSource } from "../../gen/secarc/v1/alert_pb.js";
import { RECONNECT_REBALANCE, RECONNECT_TRAILER } from "../../common/link-reconnect.js";
import type { AgentLinkConfig } from "../config.js";
import { grpcServiceDefinition } from "./grpc-service.js";
import { createEndpointCredentials } from "./tls-resumption.js";

/**
 * One session of the link: a gRPC client and its `AgentService.Connect`
 * stream, and the steps on it that do not depend on the client's state —
 * open, write a message within the size limit, heartbeat, wait for
 * 'drain', drop it, end it gracefully.
 */
export interface Session {
  id: number;
  /** The controller endpoint ("host:port") this session dialed. */
  address: string;
  client: grpc.Client;
  call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>;
  openedAt: number;
  welcomedAt?: number;
  welcomeTimer: NodeJS.Timeout;
}

/** What the stream's events are told to (the client's state machine). */
export interface SessionEvents {
  data(message: ControllerMessage): void;
  /**
   * The stream ended, failed or was refused: why, in words; `rebalance` when
   * the controller's trailers asked the agent to reconnect (common/link-reconnect.ts).
   */
  ended(reason: string, rebalance: boolean): void;
}

const CONNECT = grpcServiceDefinition(AgentService).connect!;
const DEFAULT_HEARTBEAT_MS = 10_000;
const MIN_HEARTBEAT_MS = 200;

/** How a session dials the controller: one credential and channel options for every session. */
export interface Dialer {
  open(address: string, id: number, openedAt: number, welcomeTimer: NodeJS.Timeout, events: SessionEvents): Session;
  /** TLS handshakes completed, how many of them resumed a session, and dials of closed channels stopped (tls-resumption.ts). */
  tlsHandshakes(): { handshakes: number; resumed: number; abandoned: number };
}

/** Whether a stream's trailers say the controller ended it to rebalance. */
export function asksRebalance(metadata: grpc.Metadata | undefined): boolean {
  return metadata?.get(RECONNECT_TRAILER).some((value) => String(value) === RECONNECT_REBALANCE) ?? false;
}

/** The credentials and channel options from the link config (keepalive, sizes, reconnect backoff, TLS name). */
export function createDialer(tls: TlsMaterial, link: AgentLinkConfig, serverName?: string): Dialer {
  // Per endpoint, so that each offers the TLS session it got from that endpoint.
  const credentials = createEndpointCredentials(tls, serverName);
  const channelOptions: grpc.ChannelOptions = {
    "grpc.keepalive_time_ms": link.keepaliveTime,
    "grpc.keepalive_timeout_ms": link.keepaliveTimeout,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_send_message_length": link.maxMessageBytes,
    "grpc.max_receive_message_length": link.maxMessageBytes,
    "grpc.initial_reconnect_backoff_ms": link.backoffInitial,
    "grpc.max_reconnect_backoff_ms": link.backoffMax,
    "grpc.use_local_subchannel_pool": 1,
    // The TLS name is checked by the credentials (tls-resumption.ts); the :authority names it too.
    ...(serverName ? { "grpc.default_authority": serverName } : {}),
  };
  return {
    tlsHandshakes: () => credentials.stats(),
    open(address, id, openedAt, welcomeTimer, events) {
      const client = new grpc.Client(address, credentials.for(address), channelOptions);
      const call = client.makeBidiStreamRequest<AgentMessage, ControllerMessage>(CONNECT.path, CONNECT.requestSerialize, CONNECT.responseDeserialize);
      call.on("data", (message: ControllerMessage) => events.data(message));
      call.on("error", (err: grpc.ServiceError) => events.ended(`${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`, asksRebalance(err.metadata)));
      call.on("status", (status: grpc.StatusObject) => events.ended(`${grpc.status[status.code] ?? status.code}: ${status.details}`, asksRebalance(status.metadata)));
      call.on("end", () => events.ended("stream ended by the controller", false));
      return { id, address, client, call, openedAt, welcomeTimer };
    },
  };
}

/** Writes `message` unless it is larger than `limit`; false when not written (logged). */
export function writeMessage(session: Session, message: AgentMessage, limit: number, logger: Logger): boolean {
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
}

/** The largest message the session may send: the smaller of the controller's limit (Welcome) and ours. */
export function sendLimit(welcome: Welcome | undefined, link: AgentLinkConfig): number {
  return welcome && welcome.maxMessageBytes > 0 ? Math.min(welcome.maxMessageBytes, link.maxMessageBytes) : link.maxMessageBytes;
}

/** The heartbeat period the Welcome asks for (at least 200 ms; 10 s when it names none). */
export function heartbeatIntervalMs(welcome: Welcome): number {
  const interval = welcome.heartbeatInterval;
  return interval ? Math.max(MIN_HEARTBEAT_MS, Number(interval.seconds) * 1000 + Math.floor(interval.nanos / 1e6)) : DEFAULT_HEARTBEAT_MS;
}

/** A Heartbeat message: the time, the outbox depth and the detectors' sources. */
export function heartbeatMessage(sentAtMs: number, outboxDepth: number, detectorSources: DetectorSource[]): AgentMessage {
  return create(AgentMessageSchema, { payload: { case: "heartbeat", value: { sentAt: timestampFromMs(sentAtMs), outboxDepth, detectorSources } } });
}

/** Resolves on the stream's next 'drain', or as soon as `stillCurrent` turns false (the session may end instead). */
export function drained(session: Session, stillCurrent: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearInterval(poll);
      session.call.off("drain", done);
      resolve();
    };
    session.call.once("drain", done);
    const poll = setInterval(() => {
      if (!stillCurrent()) done();
    }, 100);
  });
}

/** Drops a session at once: its events are no longer heard, the stream is cancelled, the client closed. */
export function dropSession(session: Session): void {
  session.call.removeAllListeners("data");
  session.call.on("error", () => undefined);
  session.call.cancel();
  session.client.close();
}

/** Ends a session gracefully: half-close, wait (at most 1 s) for the controller's status, then cancel and close. */
export async function endSession(session: Session): Promise<void> {
  clearTimeout(session.welcomeTimer);
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
}
