import { expect } from "chai";
import { createBackoff } from "./backoff.js";

describe("backoff", () => {
  it("doubles the ceiling up to the cap, with full jitter", () => {
    const almostOne = createBackoff({ initialMs: 500, maxMs: 30_000, random: () => 0.999999 });
    const waits = Array.from({ length: 9 }, () => almostOne.next());
    expect(waits).to.deep.equal([499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
    const zero = createBackoff({ initialMs: 500, maxMs: 30_000, random: () => 0 });
    expect(zero.next()).to.equal(0);
  });

  it("draw waits at the count so far without counting", () => {
    const backoff = createBackoff({ initialMs: 500, maxMs: 30_000, random: () => 0.999999 });
    expect([backoff.draw(), backoff.draw(), backoff.next(), backoff.draw(), backoff.next(), backoff.next()]).to.deep.equal([499, 499, 499, 999, 999, 1999]);
    expect(backoff.attempts).to.equal(3);
  });

  it("starts over after reset", () => {
    const backoff = createBackoff({ initialMs: 100, maxMs: 1_000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    expect(backoff.attempts).to.equal(2);
    backoff.reset();
    expect(backoff.attempts).to.equal(0);
    expect(backoff.next()).to.equal(50);
  });

  it("spreads waits over the whole interval with the real random source", () => {
    const backoff = createBackoff({ initialMs: 1_000, maxMs: 1_000 });
    const waits = Array.from({ length: 200 }, () => backoff.next());
    expect(Math.min(...waits)).to.be.at.least(0);
    expect(Math.max(...waits)).to.be.below(1_000);
    expect(new Set(waits).size).to.be.above(50);
  });
});
