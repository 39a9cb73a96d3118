import type { Server, Socket } from "node:net";
import type { Logger } from "../../common/log.js";

/**
 * Admission of connections under a reconnect herd. After a replica (or the
 * controller) dies, thousands of agents dial the same endpoint within a
 * second. Taken all at once, every one of them waits for its TLS handshake
 * and its Welcome longer than the agent's connect timeout: the agents give
 * up, dial again, and the controller redoes the work for nobody.
 *
 * So only so many connections may be opening at a time (accepted, not yet
 * welcomed): the listening socket refuses the next ones before any TLS
 * work (net.Server's maxConnections, kept at the welcomed connections plus
 * the limit), and each refused agent dials again after its jittered
 * backoff. The limit follows what the controller manages (additive
 * increase, multiplicative decrease, as TCP's window): it starts at
 * `initialOpening`, grows while connections are welcomed within
 * `targetMs` of their accept and the limit is what holds them back, and
 * shrinks when they take longer or run out of time, between `minOpening`
 * and `maxOpening`. A controller starved of CPU (or of its database) thus
 * takes as many as it can welcome well within the agents' connect
 * timeout. A connection still without a Welcome after `welcomeWithinMs`
 * (past the agent's connect timeout) is closed, so that a silent client
 * cannot hold a place.
 */
export interface Admission {
  /** The agent (or probe) on the connection from `remote` ("address:port") was welcomed: it no longer counts as opening. */
  welcomed(remote: string): void;
  /** Connections opening now, connections refused so far, and the limit now. */
  stats(): { opening: number; refused: number; limit: number };
  stop(): void;
}

export interface AdmissionOptions {
  /** The highest the limit goes (link.maxOpeningConnections). */
  maxOpening: number;
  /** Where the limit starts. Default: a fifth of maxOpening, at least minOpening. */
  initialOpening?: number;
  /** The lowest it goes. Default: 16 (or maxOpening, if lower). */
  minOpening?: number;
  /** Accept→Welcome time the limit aims below, ms. Default: 3,000 (a fifth of the agents' 15 s connect timeout). */
  targetMs?: number;
  /** How often the limit is adjusted, ms. Default: 500. */
  adjustEveryMs?: number;
  welcomeWithinMs: number;
  log: Logger;
  /** Monotonic ms. Default: performance.now. */
  monotonicNow?: () => number;
}

/** Between two "refusing connections" warnings. */
const WARN_EVERY_MS = 10_000;

export function admitConnections(server: Server, options: AdmissionOptions): Admission {
  const { maxOpening, welcomeWithinMs, log } = options;
  const minOpening = Math.min(maxOpening, options.minOpening ?? 16);
  const targetMs = options.targetMs ?? 3_000;
  const monotonicNow = options.monotonicNow ?? (() => performance.now());
  const opening = new Map<string, { socket: Socket; timer: NodeJS.Timeout; acceptedAt: number }>();
  const welcomedSockets = new WeakSet<Socket>();
  let welcomed = 0;
  let refused = 0;
  let refusedSinceWarn = 0;
  let warnedAt = 0;
  let allowed = Math.max(minOpening, Math.min(maxOpening, options.initialOpening ?? Math.round(maxOpening / 5)));
  /** Since the last adjustment: the slowest accept→Welcome time, how many were welcomed, whether one ran out of time; and whether the limit refused anyone since it last moved. */
  let slowestMs = 0;
  let welcomedSince = 0;
  let expiredSince = false;
  let refusedSince = false;
  const limit = () => (server.maxConnections = welcomed + allowed);
  limit();

  const adjust = setInterval(() => {
    if (expiredSince || slowestMs > targetMs) {
      allowed = Math.max(minOpening, Math.floor(allowed * 0.7));
      refusedSince = false;
    } else if (welcomedSince > 0 && refusedSince) {
      // The limit held someone back since it last moved, and the welcomed ones were in time.
      allowed = Math.min(maxOpening, allowed + Math.max(8, Math.ceil(allowed / 8)));
      refusedSince = false;
    }
    slowestMs = 0;
    welcomedSince = 0;
    expiredSince = false;
    limit();
  }, options.adjustEveryMs ?? 500);
  adjust.unref();

  const onConnection = (socket: Socket) => {
    const key = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
    const timer = setTimeout(() => {
      if (opening.get(key)?.socket !== socket) return;
      opening.delete(key);
      expiredSince = true;
      log.info({ remote: key, welcomeWithinMs }, "closing a connection that got no Welcome in time");
      socket.destroy();
    }, welcomeWithinMs);
    timer.unref();
    opening.set(key, { socket, timer, acceptedAt: monotonicNow() });
    socket.once("close", () => {
      const entry = opening.get(key);
      if (entry?.socket === socket) {
        clearTimeout(entry.timer);
        opening.delete(key);
      } else if (welcomedSockets.has(socket)) {
        welcomedSockets.delete(socket);
        welcomed -= 1;
        limit();
      }
    });
  };
  const onDrop = () => {
    refused += 1;
    refusedSinceWarn += 1;
    refusedSince = true;
    const now = Date.now();
    if (now - warnedAt < WARN_EVERY_MS) return;
    log.warn({ refused: refusedSinceWarn, opening: opening.size, limit: allowed, maxOpening }, `refusing new connections: ${opening.size} are opening (at most ${allowed} now, ${maxOpening} at most); the agents dial again after their backoff`);
    warnedAt = now;
    refusedSinceWarn = 0;
  };
  server.on("connection", onConnection);
  server.on("drop", onDrop);

  return {
    welcomed(remote) {
      const entry = opening.get(remote);
      if (!entry) return;
      clearTimeout(entry.timer);
      opening.delete(remote);
      slowestMs = Math.max(slowestMs, monotonicNow() - entry.acceptedAt);
      welcomedSince += 1;
      welcomedSockets.add(entry.socket);
      welcomed += 1;
      limit();
    },
    stats: () => ({ opening: opening.size, refused, limit: allowed }),
    stop() {
      clearInterval(adjust);
      server.off("connection", onConnection);
      server.off("drop", onDrop);
      for (const entry of opening.values()) clearTimeout(entry.timer);
      opening.clear();
    },
  };
}
