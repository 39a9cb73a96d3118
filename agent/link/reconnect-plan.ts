import { createBackoff } from "./backoff.js";

/**
 * Where the agent dials next, and after how long: the controller endpoints
 * (`controller.address`, one or several "host:port") and the backoff, as a
 * pure decision over an injected clock and random source.
 *
 * - Each agent walks the endpoints in an order of its own: a random
 *   permutation drawn at start. Agents thus start spread over the
 *   endpoints, and the agents of a replica that dies spread evenly over
 *   the others instead of all moving to the same next one.
 * - A session that ends by failure (refused, no Welcome, lost) moves to
 *   the next endpoint in that order after a full-jitter exponential wait
 *   (`backoff.ts`): uniform in [0, min(max, initial·2ⁿ)] after n rounds
 *   over the endpoints that all failed, so a whole fleet moving at once
 *   arrives spread over the interval instead of in one wave. The ceiling
 *   grows once per round, not per endpoint, as gRPC's connection backoff
 *   does over a name's addresses: a dead replica in the list (refused at
 *   once) does not double the wait before the live ones. With one
 *   endpoint a round is one failure. A session that stayed welcomed for
 *   `healthyAfterMs` starts the count over.
 * - A session the controller ended to rebalance (its stream reached the
 *   controller's `link.maxStreamAge`) is not a failure: the count starts
 *   over, the next endpoint is drawn uniformly from all of them (the same
 *   one included), and the wait is uniform in [0, initial] — so streams
 *   spread again over replicas that came back.
 */
export interface ReconnectPlan {
  /** The endpoint the next session dials. */
  current(): string;
  /** The session on `current()` was welcomed now. */
  welcomed(): void;
  /** The session ended (`rebalance`: the controller asked the agent to reconnect): where and when to dial next. */
  ended(rebalance: boolean): ReconnectStep;
  /** Consecutive failures since the last healthy or rebalanced session. */
  readonly attempts: number;
}

export interface ReconnectStep {
  address: string;
  delayMs: number;
  /** Consecutive failures so far (0 after a rebalance). */
  attempt: number;
  /** How long the session was welcomed, 0 when it never was. */
  sessionMs: number;
}

export interface ReconnectPlanOptions {
  /** The controller endpoints, "host:port" each; at least one. */
  addresses: readonly string[];
  /** Upper bound of the first wait after a failure, and of the wait after a rebalance. */
  initialMs: number;
  /** Upper bound of any wait. */
  maxMs: number;
  /** A welcomed session that lasted this long resets the failure count. */
  healthyAfterMs: number;
  now: () => number;
  /** Uniform random number in [0, 1). */
  random: () => number;
}

export function createReconnectPlan(options: ReconnectPlanOptions): ReconnectPlan {
  const { now, random } = options;
  if (options.addresses.length === 0) throw new RangeError("at least one controller endpoint is needed");
  const order = shuffled(options.addresses, random);
  const backoff = createBackoff({ initialMs: options.initialMs, maxMs: options.maxMs, random });
  let index = 0;
  let welcomedAt: number | undefined;
  /** Consecutive failures; every order.length of them is one round over the endpoints. */
  let failures = 0;
  const startOver = () => {
    backoff.reset();
    failures = 0;
  };

  return {
    current: () => order[index]!,
    welcomed() {
      welcomedAt = now();
    },
    ended(rebalance) {
      const sessionMs = welcomedAt === undefined ? 0 : Math.max(0, now() - welcomedAt);
      const wasWelcomed = welcomedAt !== undefined;
      welcomedAt = undefined;
      if (rebalance) {
        startOver();
        index = pick(order.length, random);
        return { address: order[index]!, delayMs: Math.floor(random() * options.initialMs), attempt: 0, sessionMs };
      }
      if (wasWelcomed && sessionMs >= options.healthyAfterMs) startOver();
      index = (index + 1) % order.length;
      failures += 1;
      // The last endpoint of a round counts the round; the others wait at the count so far.
      const delayMs = failures % order.length === 0 ? backoff.next() : backoff.draw();
      return { address: order[index]!, delayMs, attempt: failures, sessionMs };
    },
    get attempts() {
      return failures;
    },
  };
}

/** A uniform index in [0, n). */
function pick(n: number, random: () => number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** A random permutation (Fisher–Yates) of `items`. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = pick(i + 1, random);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
