import type { X509Certificate } from "node:crypto";
import http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import { createContextValues } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { SecarcError, describeError } from "../../common/errors.js";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../../common/link-timeouts.js";
import type { Logger } from "../../common/log.js";
import type { EventBus } from "../domain/events.js";
import type { StoreHealth } from "../store/store-health.js";
import type { Store } from "../store/store.js";
import { decodeFrame, LenientAgentService, type InboundMessage } from "./agent-frame.js";
import { createAgentStreamHandler, peerKey, type ProbeDelivery } from "./agent-stream.js";
import { followPeers } from "./link-peers.js";
import { createPeerPinger } from "./peer-pinger.js";
import { startStreamLimits } from "./stream-limits.js";
import { startTicketKeyRotation } from "./ticket-keys.js";
import { normalizeSerial, type RevocationList } from "./revocation-list.js";
import type { SessionRegistry } from "./session-registry.js";
import { createWriteBatcher } from "./write-batcher.js";
import { admitConnections } from "./admission.js";
import type { ReplicaLinkHooks } from "../replicas/replica-coordination.js";

/**
 * How long a connection may stay without a Welcome before the controller
 * closes it (so that a client that never says Hello cannot hold a place
 * among the opening ones): past the agents' default connect timeout, so that
 * a connection its agent still waits for is never closed by this side.
 */
export const WELCOME_WITHIN_MS = DEFAULT_CONNECT_TIMEOUT_MS + 5_000;

export interface LinkServerOptions {
  host: string;
  /** 0 picks a free port; the real one is in LinkServer.port. */
  port: number;
  /** PEM: the SecARC CA, the controller's certificate and key. */
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  /** The revoked certificates (tls.crl), checked at the handshake and at Hello. Default: none. */
  revocation?: RevocationList;
  /** The secret TLS session tickets are derived from (tls.ticketKeyFile). Default: Node's keys, new at every start. */
  ticketSecret?: Buffer;
  store: Store;
  registry: SessionRegistry;
  events: EventBus;
  logger: Logger;
  now: () => number;
  heartbeatIntervalMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  maxMessageBytes: number;
  controllerVersion: string;
  /** Where probe sessions' test alerts go (the Telegram bridge). Default: reported as not configured. */
  probe?: ProbeDelivery;
  /** Told of store write failures and commits. */
  storeHealth?: StoreHealth;
  /** Streams older than this (± `maxStreamAgeJitterMs`) are ended for the agent to reconnect (stream-limits.ts). Default: 0, never. */
  maxStreamAgeMs?: number;
  /** On PostgreSQL with replicas: the agents' sessions across them (agent-stream.ts). Default: none. */
  replicas?: ReplicaLinkHooks;
  maxStreamAgeJitterMs?: number;
  /** Connections opening at once (accepted, not yet welcomed); more are refused before TLS (admission.ts). Default: 500. */
  maxOpeningConnections?: number;
}

export interface LinkServer {
  port: number;
  /** Live HTTP/2 connections (not streams). */
  connectionCount(): number;
  /** Connections opening now (accepted, not yet welcomed), refused since the start, and the opening limit in force. */
  admission(): { opening: number; refused: number; limit: number };
  /** TLS handshakes completed since the start: full ones, and ones that resumed a session. */
  tlsHandshakes(): { full: number; resumed: number };
  /**
   * Puts a new CRL in force: new handshakes check it, new Hellos are checked
   * against it, and the live streams and connections of certificates it
   * revokes are ended now. Returns the agents whose live stream was ended.
   */
  setRevocationList(list: RevocationList): string[];
  /** Ends every stream with UNAVAILABLE, closes every connection, waits for pending writes. */
  /**
   * Stops accepting, ends every stream with UNAVAILABLE and asks every
   * connection to close (GOAWAY), then commits the pending writes. It waits
   * for the agents to close their connections; after 2 s it destroys those
   * still open, or with `exiting` leaves them to the process's exit.
   */
  close(options?: { exiting?: boolean }): Promise<void>;
}

/**
 * The agents' endpoint: AgentService.Connect over HTTP/2 with mutual TLS.
 * A client without a certificate, or with one that does not chain to the CA
 * (or is expired or revoked), fails the handshake; the reason is logged from
 * `tlsClientError`. Every connection is pinged to find dead peers, and
 * tracked so that shutdown can close it.
 */
export async function startLinkServer(options: LinkServerOptions): Promise<LinkServer> {
  const { logger, registry } = options;
  const log = logger.child({ component: "link" });
  const health = options.storeHealth;
  const batcher = createWriteBatcher({ store: options.store, ...(health ? { onCommit: () => health.succeeded() } : {}) });
  const handlers = new Set<Promise<void>>();
  let revocation = options.revocation;
  const isRevoked = (certificate: X509Certificate): boolean => revocation?.isRevoked(certificate) ?? false;

  const connect = createAgentStreamHandler({
    store: options.store,
    registry,
    events: options.events,
    batcher,
    logger: log,
    now: options.now,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    maxMessageBytes: options.maxMessageBytes,
    controllerVersion: options.controllerVersion,
    ...(options.probe ? { probe: options.probe } : {}),
    ...(health ? { storeHealth: health } : {}),
    ...(options.replicas ? { replicas: options.replicas } : {}),
    isRevoked,
    onWelcomed: (remote) => admission.welcomed(remote),
    onHandlerStart(done) {
      handlers.add(done);
      void done.then(() => handlers.delete(done));
    },
  });

  const adapter = connectNodeAdapter({
    grpc: true,
    connect: false,
    grpcWeb: false,
    readMaxBytes: options.maxMessageBytes,
    // AgentService read through AgentFrame: a message that does not decode is rejected by id, not the stream.
    routes: (router) =>
      router.service(LenientAgentService, {
        connect: (requests, ctx) => connect(decodeFrames(requests as AsyncIterable<unknown>), ctx),
      }),
    contextValues: (req) => {
      // The compatibility request's socket proxies the connection's TLS socket.
      const socket = (req as http2.Http2ServerRequest).stream.session?.socket as TLSSocket | undefined;
      const values = createContextValues();
      if (socket) values.set(peerKey, peerOf(socket));
      return values;
    },
  });

  // Everything setSecureContext replaces. One crl entry per CRL: Node reads
  // only the first CRL of a single PEM string.
  const secureContext = (list: RevocationList | undefined) => ({
    key: options.tls.key,
    cert: options.tls.cert,
    ca: options.tls.ca,
    minVersion: "TLSv1.2" as const,
    // Fixed, not Node's default (a hash of the command line): a restarted controller resumes the sessions of the one before.
    sessionIdContext: "secarc-link",
    ...(list && list.pems.length > 0 ? { crl: [...list.pems] } : {}),
  });
  const server = http2.createSecureServer(
    {
      ...secureContext(revocation),
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: false,
      // An agent needs one stream (two while a replacement overlaps).
      settings: { maxConcurrentStreams: 16 },
    },
    adapter,
  );
  // Who is at the other end of each connection, and why a refused handshake was refused.
  const { peerOf, remoteOf } = followPeers(server, log);
  // A reconnect herd is let in a part at a time. A connection without a Welcome is closed only once its
  // agent has given up on it (the agents' default connect timeout, and then some).
  const admission = admitConnections(server, { maxOpening: options.maxOpeningConnections ?? 500, welcomeWithinMs: WELCOME_WITHIN_MS, log });

  const tickets = options.ticketSecret ? startTicketKeyRotation({ secret: options.ticketSecret, now: options.now, apply: (keys) => server.setTicketKeys(keys) }) : undefined;
  const sessions = new Set<http2.ServerHttp2Session>();
  const handshakes = { full: 0, resumed: 0 };
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.isSessionReused()) handshakes.resumed += 1;
    else handshakes.full += 1;
  });
  const pinger = createPeerPinger({
    intervalMs: options.pingIntervalMs,
    timeoutMs: options.pingTimeoutMs,
    now: options.now,
    onDead(session) {
      const socket = session.socket as TLSSocket | undefined;
      log.warn({ remote: socket ? remoteOf(socket) : "unknown", identity: socket ? peerOf(socket).identity : undefined, reason: `no HTTP/2 ping answer within ${options.pingTimeoutMs} ms` }, "closing a dead connection");
      session.destroy();
    },
  });
  // Silent streams (a hung agent) and streams at their maximum age (rebalance) are ended.
  const limits = startStreamLimits({
    registry,
    logger: log,
    now: options.now,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs,
    maxAgeMs: options.maxStreamAgeMs ?? 0,
    jitterMs: options.maxStreamAgeJitterMs ?? 0,
  });

  server.on("session", (session) => {
    sessions.add(session);
    pinger.add(session);
    session.on("close", () => {
      sessions.delete(session);
      pinger.remove(session);
    });
    session.on("error", (err) => log.debug({ err: describeError(err) }, "connection error"));
  });
  server.on("sessionError", (err) => log.debug({ err: describeError(err) }, "session error"));

  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => {
      admission.stop();
      pinger.stop();
      tickets?.stop();
      limits.stop();
      reject(new SecarcError("unavailable", `cannot listen for agents on ${options.host}:${options.port}: ${describeError(err)}`, { cause: err }));
    };
    server.once("error", failed);
    server.listen(options.port, options.host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err: describeError(err) }, "link server error"));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  log.info({ host: options.host, port }, "listening for agents");

  let closing: Promise<void> | undefined;
  return {
    port,
    connectionCount: () => sessions.size,
    admission: () => admission.stats(),
    tlsHandshakes: () => ({ ...handshakes }),
    setRevocationList(list) {
      // New handshakes first, so that a revoked agent cannot slip back in
      // between the end of its stream and the swap.
      server.setSecureContext(secureContext(list));
      // The new context has random ticket keys: put the ones derived from tls.ticketKeyFile back,
      // or agents' tickets stop working across restarts until the next period.
      tickets?.reapply();
      revocation = list;
      const ended: string[] = [];
      for (const live of registry.sessions()) {
        if (!live.certificate || !list.isRevoked(live.certificate)) continue;
        const reason = `the certificate of "${live.agentId}" (serial ${normalizeSerial(live.certificate.serialNumber)}) is now revoked by the controller's CRL`;
        log.warn({ agentId: live.agentId, sessionId: live.sessionId, reason }, "ending the stream of a revoked certificate");
        live.end(new ConnectError(reason, Code.PermissionDenied));
        ended.push(live.agentId);
      }
      // Its connections too (probe sessions, idle connections): closed
      // gracefully, so the stream's status reaches the agent, then destroyed.
      for (const session of sessions) {
        const socket = session.socket as TLSSocket | undefined;
        const certificate = socket ? peerOf(socket).certificate : undefined;
        if (!certificate || !list.isRevoked(certificate)) continue;
        session.close();
        const force = setTimeout(() => session.destroy(), 1_000);
        force.unref();
      }
      return ended;
    },
    close(closeOptions) {
      closing ??= (async () => {
        admission.stop();
        pinger.stop();
        tickets?.stop();
        limits.stop();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        registry.endAll(new ConnectError("the controller is shutting down", Code.Unavailable));
        for (const session of sessions) session.close();
        // Agents close their connection once the stream's end and the GOAWAY reached them.
        const graceOver = new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref());
        await Promise.race([closed, graceOver]);
        if (closeOptions?.exiting) {
          // Those still open are left to the exit, which closes them all, instead of being
          // torn down here (their streams, nghttp2 and TLS state: about 1 ms of CPU each for nothing).
          await Promise.race([Promise.allSettled([...handlers]), graceOver]);
        } else {
          for (const session of sessions) session.destroy();
          await closed;
          await Promise.allSettled([...handlers]);
        }
        await batcher.flush();
      })();
      return closing;
    },
  };
}

async function* decodeFrames(frames: AsyncIterable<unknown>): AsyncGenerator<InboundMessage> {
  for await (const frame of frames) yield decodeFrame(frame);
}
