import type { Server, Socket } from "node:net";
import type { Logger } from "../../common/log.js";

/**
 * Admission of connections under a reconnect herd. After a replica (or the
 * controller) dies, thousands of agents dial the same endpoint within a
 * second. Taken all at once, every one of them waits for its TLS handshake
 * and its Welcome longer than the agent's connect timeout: the agents give
 * up, dial again, and the controller redoes the work for nobody.
 *
 * So at most `maxOpening` connections may be opening at a time (accepted,
 * not yet welcomed): the listening socket refuses the next ones before any
 * TLS work (net.Server's maxConnections, kept at the welcomed connections
 * plus `maxOpening`), and each refused agent dials again after its
 * jittered backoff. A connection still without a Welcome after
 * `welcomeWithinMs` (past the agent's connect timeout) is closed, so that a
 * silent client cannot hold a place.
 */
export interface Admission {
  /** The agent (or probe) on the connection from `remote` ("address:port") was welcomed: it no longer counts as opening. */
  welcomed(remote: string): void;
  /** Connections opening now, and connections refused so far. */
  stats(): { opening: number; refused: number };
  stop(): void;
}

export interface AdmissionOptions {
  maxOpening: number;
  welcomeWithinMs: number;
  log: Logger;
}

/** Between two "refusing connections" warnings. */
const WARN_EVERY_MS = 10_000;

export function admitConnections(server: Server, options: AdmissionOptions): Admission {
  const { maxOpening, welcomeWithinMs, log } = options;
  const opening = new Map<string, { socket: Socket; timer: NodeJS.Timeout }>();
  const welcomedSockets = new WeakSet<Socket>();
  let welcomed = 0;
  let refused = 0;
  let refusedSinceWarn = 0;
  let warnedAt = 0;
  const limit = () => (server.maxConnections = welcomed + maxOpening);
  limit();

  const onConnection = (socket: Socket) => {
    const key = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
    const timer = setTimeout(() => {
      if (opening.get(key)?.socket !== socket) return;
      opening.delete(key);
      log.info({ remote: key, welcomeWithinMs }, "closing a connection that got no Welcome in time");
      socket.destroy();
    }, welcomeWithinMs);
    timer.unref();
    opening.set(key, { socket, timer });
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
    const now = Date.now();
    if (now - warnedAt < WARN_EVERY_MS) return;
    log.warn({ refused: refusedSinceWarn, opening: opening.size, maxOpening }, `refusing new connections: ${opening.size} are opening (at most ${maxOpening}); the agents dial again after their backoff`);
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
      welcomedSockets.add(entry.socket);
      welcomed += 1;
      limit();
    },
    stats: () => ({ opening: opening.size, refused }),
    stop() {
      server.off("connection", onConnection);
      server.off("drop", onDrop);
      for (const entry of opening.values()) clearTimeout(entry.timer);
      opening.clear();
    },
  };
}
