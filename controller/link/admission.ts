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
 * backoff. The limit follows what the controller manages. It is lowered
 * only when the controller itself is the bottleneck — its event loop busy
 * (at least `busyAbove` of the last interval) — and Welcomes come late
 * (90th percentile past `targetMs`) or connections run out of time (closed
 * by the agent after `targetMs` without a Welcome, or by this side after
 * `welcomeWithinMs`): then to what the Welcome rate sustains within the
 * target by Little's law (connections opening = Welcomes per second × time
 * to a Welcome: the Welcomes of the last `targetMs`), and by at least 30 %
 * on a timeout. While the loop has room, slow Welcomes are the agents' or
 * the network's doing, and letting fewer in would only push agents into
 * longer backoffs: the limit grows by half whenever it held someone back.
 * While the loop is busy but Welcomes come in time, it grows towards what
 * the rate sustains. All between `minOpening` (by default where it
 * starts) and `maxOpening`. A connection still without a Welcome after
 * `welcomeWithinMs` (past the agent's connect timeout) is closed, so that
 * a silent client cannot hold a place.
 *
 * (Node accepts one connection per turn of its event loop — libuv since
 * 1.45 — so a busy controller's accept rate is bounded by how long its
 * turns take, whatever the limit: one more reason to keep them short.)
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
  /** Where the limit starts. Default: a fifth of maxOpening, at least 32 (or maxOpening, if lower). */
  initialOpening?: number;
  /** The lowest it goes. Default: where it starts. */
  minOpening?: number;
  /** Accept→Welcome time the limit aims at, ms. Default: 5,000 (a sixth of the agents' 30 s connect timeout: their dial and the wait for the accept come on top). */
  targetMs?: number;
  /** How often the limit is adjusted, ms. Default: 500. */
  adjustEveryMs?: number;
  welcomeWithinMs: number;
  log: Logger;
  /** Monotonic ms. Default: performance.now. */
  monotonicNow?: () => number;
  /** The event loop's utilization since the last call, 0 to 1. Default: performance.eventLoopUtilization's. */
  loopUtilization?: () => number;
  /** Above this utilization the controller counts as its own bottleneck. Default: 0.9. */
  busyAbove?: number;
}

/** Between two "refusing connections" warnings. */
const WARN_EVERY_MS = 10_000;

export function admitConnections(server: Server, options: AdmissionOptions): Admission {
  const { maxOpening, welcomeWithinMs, log } = options;
  const initialOpening = Math.max(1, Math.min(maxOpening, options.initialOpening ?? Math.max(32, Math.round(maxOpening / 5))));
  const minOpening = Math.min(initialOpening, options.minOpening ?? initialOpening);
  const targetMs = options.targetMs ?? 5_000;
  const adjustEveryMs = options.adjustEveryMs ?? 500;
  const monotonicNow = options.monotonicNow ?? (() => performance.now());
  const loopUtilization = options.loopUtilization ?? utilizationSinceLastCall();
  const busyAbove = options.busyAbove ?? 0.9;
  const opening = new Map<string, { socket: Socket; timer: NodeJS.Timeout; acceptedAt: number }>();
  const welcomedSockets = new WeakSet<Socket>();
  let welcomed = 0;
  let refused = 0;
  let refusedSinceWarn = 0;
  let warnedAt = 0;
  let allowed = initialOpening;
  /** Welcomes in each of the last adjustments, newest last: as many as span targetMs. */
  const recent: number[] = [];
  const window = Math.max(1, Math.ceil(targetMs / adjustEveryMs));
  /** Since the last adjustment: the accept→Welcome times, whether a connection ran out of time; and whether the limit refused anyone since it last moved. */
  let latencies: number[] = [];
  let expiredSince = false;
  let refusedSince = false;
  const limit = () => (server.maxConnections = welcomed + allowed);
  limit();

  const adjust = setInterval(() => {
    recent.push(latencies.length);
    if (recent.length > window) recent.shift();
    // The connections the Welcome rate of the last targetMs keeps opening at targetMs each (Little's law): its Welcomes.
    const sustained = recent.reduce((sum, n) => sum + n, 0);
    const busy = loopUtilization() >= busyAbove;
    const slow = percentile(latencies, 0.9) > targetMs;
    if (busy && expiredSince) {
      allowed = Math.max(minOpening, Math.min(Math.floor(allowed * 0.7), sustained));
      refusedSince = false;
    } else if (busy && slow) {
      allowed = Math.max(minOpening, Math.min(allowed, sustained));
      refusedSince = false;
    } else if (refusedSince && !busy) {
      // The limit held someone back while the loop had room.
      allowed = Math.min(maxOpening, Math.max(allowed + 8, Math.ceil(allowed * 1.5)));
      refusedSince = false;
    } else if (refusedSince && latencies.length > 0 && !slow) {
      // Busy, but the welcomed ones were in time.
      allowed = Math.min(maxOpening, Math.max(allowed + 8, Math.min(Math.ceil(allowed * 1.5), sustained)));
      refusedSince = false;
    }
    latencies = [];
    expiredSince = false;
    limit();
  }, adjustEveryMs);
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
        // Given up by the agent (its connect timeout) after longer than the target: too many were let in.
        if (monotonicNow() - entry.acceptedAt > targetMs) expiredSince = true;
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
      latencies.push(monotonicNow() - entry.acceptedAt);
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

/** The `q` quantile of `values` (0 when there are none). */
function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The event loop's utilization between one call and the next (the first call: since the process started). */
function utilizationSinceLastCall(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    return utilization;
  };
}
