import { expect } from "chai";
import { Code, type ConnectError } from "@connectrpc/connect";
import { silentLogger } from "../../common/log.js";
import { RECONNECT_REBALANCE, RECONNECT_TRAILER } from "../../common/link-reconnect.js";
import { createSessionRegistry, type LiveSession } from "./session-registry.js";
import { startStreamLimits, type StreamLimitsOptions } from "./stream-limits.js";

/** A registered stream that remembers how it was ended. */
function liveSession(agentId: string, lastMessageAt: () => number): LiveSession & { ended: ConnectError[] } {
  const ended: ConnectError[] = [];
  return {
    agentId,
    sessionId: `s-${agentId}`,
    get lastMessageAt() {
      return lastMessageAt();
    },
    sendAction: () => false,
    end: (error) => void ended.push(error),
    ended,
  };
}

describe("stream limits (maximum age, silence)", () => {
  const clock = { t: 1_000_000 };
  const base = (over: Partial<StreamLimitsOptions>) => {
    const registry = createSessionRegistry();
    const limits = startStreamLimits({ registry, logger: silentLogger(), now: () => clock.t, heartbeatIntervalMs: 10_000, pingTimeoutMs: 10_000, maxAgeMs: 60_000, jitterMs: 0, ...over });
    return { registry, limits };
  };

  it("ends a stream at its maximum age with UNAVAILABLE and the rebalance trailer, not before", () => {
    const { registry, limits } = base({});
    const live = liveSession("web-1", () => clock.t);
    registry.attach(live);
    limits.checkNow();
    clock.t += 59_999;
    limits.checkNow();
    expect(live.ended).to.have.length(0);
    clock.t += 1;
    limits.checkNow();
    limits.stop();
    expect(live.ended).to.have.length(1);
    expect(live.ended[0]!.code).to.equal(Code.Unavailable);
    expect(live.ended[0]!.rawMessage).to.match(/maximum age/);
    expect(live.ended[0]!.metadata.get(RECONNECT_TRAILER)).to.equal(RECONNECT_REBALANCE);
  });

  it("draws each stream's limit within maxAge ± jitter (injected random)", () => {
    for (const [random, limit] of [
      [0, 50_000],
      [0.5, 60_000],
      [0.999999, 70_000],
    ] as const) {
      const { registry, limits } = base({ jitterMs: 10_000, random: () => random });
      const live = liveSession("db-1", () => clock.t);
      registry.attach(live);
      limits.checkNow();
      clock.t += limit - 1;
      limits.checkNow();
      expect(live.ended, `random ${random}: not before ${limit}`).to.have.length(0);
      clock.t += 1;
      limits.checkNow();
      limits.stop();
      expect(live.ended, `random ${random}: at ${limit}`).to.have.length(1);
    }
  });

  it("0 never ends a stream for its age; silence still ends it, without the rebalance trailer", () => {
    const { registry, limits } = base({ maxAgeMs: 0 });
    let last = clock.t;
    const live = liveSession("quiet", () => last);
    registry.attach(live);
    limits.checkNow();
    clock.t += 40_000;
    last = clock.t;
    limits.checkNow();
    expect(live.ended).to.have.length(0);
    clock.t += 40_001;
    limits.checkNow();
    limits.stop();
    expect(live.ended).to.have.length(1);
    expect(live.ended[0]!.rawMessage).to.match(/no message for 40001 ms/);
    expect(live.ended[0]!.metadata.get(RECONNECT_TRAILER)).to.equal(null);
  });
});
