import { Code, ConnectError } from "@connectrpc/connect";
import { RECONNECT_REBALANCE, RECONNECT_TRAILER } from "../../common/link-reconnect.js";
import type { Logger } from "../../common/log.js";
import type { LiveSession, SessionRegistry } from "./session-registry.js";

/**
 * The two reasons the controller ends a live stream by itself, checked
 * together on one timer over the session registry:
 *
 * - silence: a connection can stay alive (pings answered) while the agent
 *   on it has hung; a stream silent for three heartbeat intervals (plus
 *   the ping timeout, as slack) is ended UNAVAILABLE and the agent
 *   recorded offline.
 * - age (`link.maxStreamAge`): a stream older than its own limit — the
 *   maximum age plus or minus a uniform jitter, drawn once per stream so
 *   that a fleet that connected at once does not reconnect at once — is
 *   ended UNAVAILABLE with the trailer `secarc-reconnect: rebalance`
 *   (common/link-reconnect.ts). The agent reconnects at once to an
 *   endpoint drawn from its list, without counting a failure: streams
 *   spread again over replicas that came back. Nothing is lost: what was
 *   not acked stays in the agent's outbox and is resent on the next
 *   stream (the store takes a resent alert or result once), and unfinished
 *   actions are sent again at the next Welcome (the agent's journal runs
 *   each once).
 *
 * The registry is checked every half heartbeat interval (100 ms to 5 s),
 * and at least 20 times per maximum age; a stream's age is counted from
 * the first check that sees it.
 */
export interface StreamLimits {
  /** One check of every live stream now (the timer runs it every check period). */
  checkNow(): void;
  stop(): void;
}

export interface StreamLimitsOptions {
  registry: SessionRegistry;
  logger: Logger;
  now: () => number;
  /** The heartbeat interval agents are told in Welcome. */
  heartbeatIntervalMs: number;
  /** How long an HTTP/2 ping is awaited (slack on top of three heartbeats). */
  pingTimeoutMs: number;
  /** The maximum age of a stream; 0: streams are never ended for their age. */
  maxAgeMs: number;
  /** Each stream's limit is `maxAgeMs` ± up to this much, uniformly. */
  jitterMs: number;
  /** Uniform in [0, 1), for the jitter. Default: Math.random. */
  random?: () => number;
}

export function startStreamLimits(options: StreamLimitsOptions): StreamLimits {
  const { registry, logger: log, now } = options;
  const random = options.random ?? Math.random;
  const deadlines = new WeakMap<LiveSession, number>();
  const silenceLimitMs = 3 * options.heartbeatIntervalMs + options.pingTimeoutMs;
  const ageStep = options.maxAgeMs > 0 ? options.maxAgeMs / 20 : Infinity;
  const checkEveryMs = Math.max(100, Math.min(5_000, Math.floor(options.heartbeatIntervalMs / 2), Math.floor(ageStep)));

  const deadlineOf = (live: LiveSession, at: number): number => {
    let deadline = deadlines.get(live);
    if (deadline === undefined) {
      deadline = at + options.maxAgeMs + Math.round((2 * random() - 1) * options.jitterMs);
      deadlines.set(live, deadline);
    }
    return deadline;
  };

  const check = (): void => {
    const at = now();
    for (const live of registry.sessions()) {
      const silentMs = at - live.lastMessageAt;
      if (silentMs > silenceLimitMs) {
        const reason = `no message for ${silentMs} ms (heartbeats every ${options.heartbeatIntervalMs} ms expected)`;
        log.warn({ agentId: live.agentId, sessionId: live.sessionId, reason }, "ending a silent stream");
        live.end(new ConnectError(reason, Code.Unavailable));
      } else if (options.maxAgeMs > 0 && at >= deadlineOf(live, at)) {
        log.info({ agentId: live.agentId, sessionId: live.sessionId, maxStreamAgeMs: options.maxAgeMs }, "ending a stream at its maximum age; the agent reconnects (rebalance)");
        live.end(rebalanceError(options.maxAgeMs));
      }
    }
  };

  const timer = setInterval(check, checkEveryMs);
  timer.unref();
  return {
    checkNow: check,
    stop: () => clearInterval(timer),
  };
}

/** The status a stream ends with at its maximum age: UNAVAILABLE, trailer `secarc-reconnect: rebalance`. */
export function rebalanceError(maxAgeMs: number): ConnectError {
  return new ConnectError(`the stream reached its maximum age (link.maxStreamAge ${Math.round(maxAgeMs / 1000)} s); reconnect`, Code.Unavailable, {
    [RECONNECT_TRAILER]: RECONNECT_REBALANCE,
  });
}
