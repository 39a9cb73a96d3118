import { expect } from "chai";
import { createReconnectPlan, shuffled, type ReconnectPlanOptions } from "./reconnect-plan.js";

/** A random source that replays `values` in a loop. */
function replay(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

/** A seeded generator (mulberry32), for spreads over many agents. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ENDPOINTS = ["a:1", "b:1", "c:1"];

function plan(overrides: Partial<ReconnectPlanOptions> & { clock?: { t: number } } = {}) {
  const clock = overrides.clock ?? { t: 0 };
  return createReconnectPlan({ addresses: ENDPOINTS, initialMs: 500, maxMs: 30_000, healthyAfterMs: 5_000, now: () => clock.t, random: Math.random, ...overrides });
}

describe("reconnect plan", () => {
  it("walks every endpoint once per round, in an order of its own, moving on after each failure", () => {
    const p = plan({ random: seeded(7) });
    const first = p.current();
    const visited = [first];
    for (let i = 0; i < 5; i += 1) visited.push(p.ended(false).address);
    expect(new Set(visited.slice(0, 3)), "one round covers all").to.deep.equal(new Set(ENDPOINTS));
    expect(visited.slice(3), "the second round repeats the order").to.deep.equal(visited.slice(0, 3));
  });

  it("a single endpoint is dialed again after every failure", () => {
    const p = plan({ addresses: ["only:8443"] });
    expect(p.current()).to.equal("only:8443");
    for (let i = 0; i < 3; i += 1) expect(p.ended(false).address).to.equal("only:8443");
  });

  it("failures back off with full jitter, the ceiling doubling once per round over the endpoints, up to backoffMax", () => {
    const one = plan({ addresses: ["only:8443"], random: () => 0.999999 });
    const alone = Array.from({ length: 8 }, () => one.ended(false).delayMs);
    expect(alone, "one endpoint: a round is one failure").to.deep.equal([499, 999, 1999, 3999, 7999, 15999, 29999, 29999]);
    expect(one.attempts).to.equal(8);
    const p = plan({ random: () => 0.999999 });
    const delays = Array.from({ length: 8 }, () => p.ended(false).delayMs);
    expect(delays, "three endpoints: the wait grows after each round of three").to.deep.equal([499, 499, 499, 999, 999, 999, 1999, 1999]);
    expect(p.attempts, "failures are still counted one by one").to.equal(8);
    const pair = plan({ addresses: ["dead:1", "live:1"], random: () => 0.999999 });
    const steps = Array.from({ length: 6 }, () => pair.ended(false));
    expect(steps.every((step, i) => i === 0 || step.address !== steps[i - 1]!.address), "the two endpoints alternate").to.equal(true);
    expect(steps.map((step) => step.delayMs), "a dead endpoint refused at once does not double the wait before the live one").to.deep.equal([499, 499, 999, 999, 1999, 1999]);
    const low = plan({ random: () => 0 });
    expect(low.ended(false).delayMs, "full jitter reaches 0").to.equal(0);
  });

  it("a session welcomed for healthyAfterMs (injected clock) starts the failure count over; a shorter one does not", () => {
    const clock = { t: 1_000 };
    const p = plan({ clock, addresses: ["only:8443"], random: () => 0.999999 });
    p.ended(false);
    p.ended(false);
    p.welcomed();
    clock.t += 4_999;
    const short = p.ended(false);
    expect(short.attempt, "4.999 s welcomed: still failing").to.equal(3);
    expect(short.sessionMs).to.equal(4_999);
    expect(short.delayMs).to.equal(1999);
    p.welcomed();
    clock.t += 5_000;
    const healthy = p.ended(false);
    expect(healthy.attempt).to.equal(1);
    expect(healthy.delayMs, "back to backoffInitial").to.equal(499);
  });

  it("a rebalance is no failure: the count starts over, the wait is within backoffInitial, the endpoint drawn from all", () => {
    const clock = { t: 0 };
    const p = plan({ clock, random: replay(0.1, 0.5, 0.9, 0.7, 0.2) });
    p.ended(false);
    p.ended(false);
    p.welcomed();
    clock.t += 60_000;
    const step = p.ended(true);
    expect(step.attempt).to.equal(0);
    expect(p.attempts).to.equal(0);
    expect(step.delayMs).to.be.at.least(0).and.below(500);
    expect(ENDPOINTS).to.include(step.address);
    expect(step.sessionMs).to.equal(60_000);
    expect(p.current()).to.equal(step.address);
  });

  it("agents start spread over the endpoints, and a dead endpoint's agents spread over the others", () => {
    const random = seeded(42);
    const agents = Array.from({ length: 3_000 }, () => plan({ random }));
    const starts = count(agents.map((p) => p.current()));
    for (const endpoint of ENDPOINTS) expect(starts[endpoint], endpoint).to.be.within(850, 1_150);
    const onA = agents.filter((p) => p.current() === "a:1");
    const moved = count(onA.map((p) => p.ended(false).address));
    expect(Object.keys(moved).sort(), "nobody retries the dead one first").to.deep.equal(["b:1", "c:1"]);
    expect(moved["b:1"]! / onA.length).to.be.within(0.4, 0.6);
    const delays = onA.map((p) => p.ended(false).delayMs);
    expect(Math.max(...delays), "second failure, still the first round: within initial").to.be.below(500);
    expect(new Set(delays.map((d) => Math.floor(d / 50))).size, "spread over the window, not one wave").to.equal(10);
  });

  it("after rebalances, streams spread again over every endpoint, the one that came back included", () => {
    const random = seeded(3);
    const agents = Array.from({ length: 2_000 }, () => plan({ addresses: ["a:1", "b:1"], random }));
    // Everyone on b (a was down), then the streams reach their maximum age.
    for (const p of agents) if (p.current() === "a:1") p.ended(false);
    expect(agents.every((p) => p.current() === "b:1")).to.equal(true);
    const after = count(agents.map((p) => (p.welcomed(), p.ended(true).address)));
    expect(after["a:1"]! / agents.length).to.be.within(0.45, 0.55);
  });

  it("shuffles into a permutation and refuses an empty list", () => {
    expect(shuffled([1, 2, 3, 4], seeded(1)).sort()).to.deep.equal([1, 2, 3, 4]);
    expect(() => plan({ addresses: [] })).to.throw(/at least one/);
  });
});

function count(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[item] = (out[item] ?? 0) + 1;
  return out;
}
