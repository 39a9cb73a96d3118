import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import { createEventBus, type ControllerEvent } from "../domain/events.js";
import { startEventRelay, type EventRelay } from "./event-relay.js";

describe("event relay between replicas (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const relays: EventRelay[] = [];
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop();
  });
  const replica = async (replicaId: string, onResync?: () => void) => {
    const store = await db.open();
    const events = createEventBus();
    const seen: ControllerEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const relay = await startEventRelay({ sql: store.sql, events, logger: silentLogger(), replicaId, ...(onResync ? { onResync } : {}) });
    relays.push(relay);
    return { store, events, seen, relay };
  };

  it("publishes every view event of replica A on B, in order, once, without echoing it back; refusals stay local", async () => {
    const [a, b, c] = [await replica("a"), await replica("b"), await replica("c")];
    for (let i = 0; i < 500; i++) a.events.publish({ type: "alert", alertId: `x${i}`, agentId: "web-1", outcome: "inserted" });
    a.events.publish({ type: "rejected", what: "alert", agentId: "web-1", reason: "too big" });
    a.events.publish({ type: "agent", agentId: "web-1", online: true });
    b.events.publish({ type: "action", actionId: "act-1", alertId: "x1", agentId: "web-1" });
    await eventually(() => b.seen.length === 502 && c.seen.length === 502, "B and C see A's events");
    const fromA = b.seen.filter((e) => e.type === "alert").map((e) => (e as { alertId: string }).alertId);
    expect(fromA).to.deep.equal(Array.from({ length: 500 }, (_, i) => `x${i}`));
    expect(b.seen.some((e) => e.type === "rejected")).to.equal(false);
    // Marked as relayed (counters count it on A only), and not relayed on again.
    expect(b.seen.find((e) => e.type === "agent")).to.deep.equal({ type: "agent", agentId: "web-1", online: true, relayedFrom: "a" });
    await eventually(() => a.seen.some((e) => e.type === "action"), "A sees B's action event");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(a.seen).to.have.length(503); // its own 502, B's one; nothing echoed
    expect(c.seen).to.have.length(502);
  });

  it("resyncs after its LISTEN connection is killed and comes back", async () => {
    let resyncs = 0;
    const a = await replica("a", () => (resyncs += 1));
    expect(resyncs).to.equal(1);
    await a.store.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'listen%' AND pid <> pg_backend_pid()`;
    await eventually(() => resyncs >= 2, "a resync after the re-LISTEN");
  });
});
