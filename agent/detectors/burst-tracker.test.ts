import { expect } from "chai";
import { createBurstTracker, type BurstChange } from "./burst-tracker.js";

function tracker(options: { maxKeys?: number; maxSlotsPerKey?: number } = {}) {
  const changes: string[] = [];
  const t = createBurstTracker<null>({
    windowMs: 60_000,
    warning: 3,
    critical: 5,
    ...options,
    newExtra: () => null,
    onChange: (change: BurstChange, burst, at) => changes.push(`${change} ${burst.key} count=${burst.count} at=${at}`),
  });
  return { t, changes };
}

describe("burst tracker", () => {
  it("counts a sliding window: an event leaves exactly one window after it happened", () => {
    const { t, changes } = tracker();
    t.record("a", 0);
    t.record("a", 30_000);
    t.record("a", 60_000); // the event at 0 has left: count 2
    expect(t.get("a")!.count).to.equal(2);
    t.record("a", 60_000);
    expect(changes).to.deep.equal(["raised a count=3 at=60000"]);
  });

  it("escalates once, keeps quiet while the burst goes on, resolves when the window empties", () => {
    const { t, changes } = tracker();
    for (let i = 0; i < 8; i++) t.record("a", i * 1000);
    t.sweep(66_999);
    expect(changes).to.deep.equal(["raised a count=3 at=2000", "escalated a count=5 at=4000"]);
    t.sweep(67_000);
    expect(changes[2]).to.equal("resolved a count=8 at=67000");
    expect(t.size).to.equal(0);
  });

  it("a key whose burst ended before its next event starts a new burst", () => {
    const { t, changes } = tracker();
    for (let i = 0; i < 3; i++) t.record("a", i);
    for (let i = 0; i < 3; i++) t.record("a", 100_000 + i);
    expect(changes).to.deep.equal(["raised a count=3 at=2", "resolved a count=3 at=60002", "raised a count=3 at=100002"]);
  });

  it("bounds memory: the idlest key is dropped (its burst resolved) beyond maxKeys", () => {
    const { t, changes } = tracker({ maxKeys: 2 });
    for (let i = 0; i < 3; i++) t.record("a", i);
    t.record("b", 10);
    t.record("c", 20);
    expect(t.size).to.equal(2);
    expect(t.get("a")).to.equal(undefined);
    expect(changes).to.deep.equal(["raised a count=3 at=2", "resolved a count=3 at=60002"]);
  });

  it("stores equal timestamps in one slot and caps slots per key", () => {
    const { t } = tracker({ maxSlotsPerKey: 4 });
    for (let i = 0; i < 1000; i++) t.record("a", Math.floor(i / 100) * 1000);
    const burst = t.get("a")!;
    expect(burst.count).to.equal(1000);
    expect(burst.times.length - burst.head).to.equal(4);
  });

  it("treats a late (out of order) event as happening at the latest time seen", () => {
    const { t } = tracker();
    t.record("a", 50_000);
    t.record("a", 10_000);
    expect(t.get("a")!.lastSeen).to.equal(50_000);
    t.record("a", 109_999);
    expect(t.get("a")!.count).to.equal(3);
  });

  it("survives log times that jump back an hour: open bursts stay open and resolve one window after the newest event", () => {
    const { t, changes } = tracker();
    for (let i = 0; i < 5; i += 1) t.record("a", 3_600_000 + i * 1000);
    // The log's clock is set back an hour: another key's events come stamped earlier.
    for (let i = 0; i < 3; i += 1) t.record("b", 10_000 + i * 1000);
    expect(changes).to.deep.equal(["raised a count=3 at=3602000", "escalated a count=5 at=3604000", "raised b count=3 at=3604000"]);
    expect(t.get("a")!.level).to.equal(2);
    // Both resolve one window after the newest time seen, not an hour later and not at once.
    t.sweep(3_604_000 + 59_999);
    expect(changes).to.have.length(3);
    t.sweep(3_604_000 + 60_000);
    expect(changes.slice(3)).to.deep.equal(["resolved a count=5 at=3664000", "resolved b count=3 at=3664000"]);
  });
});
