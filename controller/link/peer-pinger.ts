import type { ServerHttp2Session } from "node:http2";

export interface PeerPingerOptions {
  /** Time between pings of one connection. */
  intervalMs: number;
  /** How long a ping may go unanswered before the peer is dead. */
  timeoutMs: number;
  now: () => number;
  /** Called once for a connection whose ping went unanswered; it should destroy it. */
  onDead(session: ServerHttp2Session): void;
}

export interface PeerPinger {
  add(session: ServerHttp2Session): void;
  remove(session: ServerHttp2Session): void;
  stop(): void;
}

interface Tracked {
  lastPong: number;
  pingSentAt: number | undefined;
}

/**
 * HTTP/2 pings on every connection (Node's server never pings by itself).
 * One sweep timer serves all connections, so thousands of agents cost one
 * timer: a connection is pinged when `intervalMs` has passed since its last
 * answer, and reported dead when a ping stays unanswered for `timeoutMs`.
 * A dead peer is found within intervalMs + timeoutMs + one sweep.
 */
export function createPeerPinger(options: PeerPingerOptions): PeerPinger {
  const tracked = new Map<ServerHttp2Session, Tracked>();
  const sweepMs = Math.max(50, Math.min(1_000, Math.floor(Math.min(options.intervalMs, options.timeoutMs) / 4)));

  const sweep = () => {
    const now = options.now();
    for (const [session, state] of tracked) {
      if (session.destroyed || session.closed) continue;
      if (state.pingSentAt !== undefined) {
        if (now - state.pingSentAt >= options.timeoutMs) {
          tracked.delete(session);
          options.onDead(session);
        }
        continue;
      }
      if (now - state.lastPong < options.intervalMs) continue;
      state.pingSentAt = now;
      try {
        session.ping((err) => {
          if (err) return;
          state.pingSentAt = undefined;
          state.lastPong = options.now();
        });
      } catch {
        // Too many unanswered pings or a closing session: the next sweep decides.
      }
    }
  };
  const timer = setInterval(sweep, sweepMs);
  timer.unref();

  return {
    add(session) {
      tracked.set(session, { lastPong: options.now(), pingSentAt: undefined });
    },
    remove(session) {
      tracked.delete(session);
    },
    stop() {
      clearInterval(timer);
      tracked.clear();
    },
  };
}
