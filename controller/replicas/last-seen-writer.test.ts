import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { useReplicaDatabase } from "../../test/support/replica-database.js";
import type { PostgresStore } from "../store/postgres-store.js";
import { startAgentSessions, type AgentSessions } from "./agent-sessions.js";
import { startLastSeenWriter, type LastSeenWriter } from "./last-seen-writer.js";

const T0 = 1_800_000_000_000;
const connected = (store: PostgresStore, agentId: string) =>
  store.agentConnected({ agentId, version: "1", hostname: agentId, addresses: [], actions: [], detectors: [], at: new Date(T0) });
const handlers = () => ({ send: () => true, lost: () => {} });

describe("last-seen writer (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const stops: Array<LastSeenWriter | AgentSessions> = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) await s.stop();
  });

  const lastSeen = async (store: PostgresStore, agentId: string) => (await store.getAgent(agentId))!.lastSeen.getTime();

  it("writes the newest noted time of every held agent in one flush, never backwards", async () => {
    const store = await db.open();
    const sessions = await startAgentSessions({ sql: store.sql, logger: silentLogger(), replicaId: "a" });
    const writer = startLastSeenWriter({ sql: store.sql, logger: silentLogger(), everyMs: 60_000 });
    stops.push(writer, sessions);
    const claims = [];
    for (const agentId of ["web-1", "web-2", "web-3"]) {
      await connected(store, agentId);
      claims.push(await sessions.claim(agentId, `s-${agentId}`, handlers()));
    }
    writer.note(claims[0]!, T0 + 1_000);
    writer.note(claims[0]!, T0 + 3_000);
    writer.note(claims[0]!, T0 + 2_000); // older than what was noted: ignored
    writer.note(claims[1]!, T0 + 5_000);
    expect(await writer.flush()).to.equal(2);
    expect(await lastSeen(store, "web-1")).to.equal(T0 + 3_000);
    expect(await lastSeen(store, "web-2")).to.equal(T0 + 5_000);
    expect(await lastSeen(store, "web-3")).to.equal(T0);
    // A time before the stored one (a delayed note) does not move last seen back.
    writer.note(claims[1]!, T0 + 4_000);
    expect(await writer.flush()).to.equal(1);
    expect(await lastSeen(store, "web-2")).to.equal(T0 + 5_000);
    expect(await writer.flush()).to.equal(0);
  });

  it("keeps the fence: nothing is written for an agent another stream took over, or whose session was released", async () => {
    const [a, b] = [await db.open(), await db.open()];
    const sessionsA = await startAgentSessions({ sql: a.sql, logger: silentLogger(), replicaId: "a" });
    const sessionsB = await startAgentSessions({ sql: b.sql, logger: silentLogger(), replicaId: "b" });
    const writerA = startLastSeenWriter({ sql: a.sql, logger: silentLogger(), everyMs: 60_000 });
    const writerB = startLastSeenWriter({ sql: b.sql, logger: silentLogger(), everyMs: 60_000 });
    stops.push(writerA, writerB, sessionsA, sessionsB);
    await connected(a, "moved");
    await connected(a, "released");
    const movedOnA = await sessionsA.claim("moved", "s-a", handlers());
    const released = await sessionsA.claim("released", "s-r", handlers());
    const movedOnB = await sessionsB.claim("moved", "s-b", handlers());
    expect(movedOnB.epoch).to.be.above(movedOnA.epoch);
    await released.release();

    writerA.note(movedOnA, T0 + 9_000); // A did not hear of the takeover yet
    writerA.note(released, T0 + 9_000);
    expect(await writerA.flush()).to.equal(0);
    expect(await lastSeen(a, "moved")).to.equal(T0);
    expect(await lastSeen(a, "released")).to.equal(T0);

    writerB.note(movedOnB, T0 + 7_000);
    expect(await writerB.flush()).to.equal(1);
    expect(await lastSeen(b, "moved")).to.equal(T0 + 7_000);
  });

  it("writes clock skews the same way: with or without a last-seen time, fenced", async () => {
    const [a, b] = [await db.open(), await db.open()];
    const sessionsA = await startAgentSessions({ sql: a.sql, logger: silentLogger(), replicaId: "a" });
    const sessionsB = await startAgentSessions({ sql: b.sql, logger: silentLogger(), replicaId: "b" });
    const writer = startLastSeenWriter({ sql: a.sql, logger: silentLogger(), everyMs: 60_000 });
    stops.push(writer, sessionsA, sessionsB);
    for (const agentId of ["skew-only", "both", "moved"]) await connected(a, agentId);
    const skewOnly = await sessionsA.claim("skew-only", "s-1", handlers());
    const both = await sessionsA.claim("both", "s-2", handlers());
    const moved = await sessionsA.claim("moved", "s-3", handlers());
    await sessionsB.claim("moved", "s-b", handlers());
    writer.noteSkew(skewOnly, 1_500);
    writer.note(both, T0 + 4_000);
    writer.noteSkew(both, -2_000);
    writer.noteSkew(both, -3_000); // the newest measurement wins
    writer.noteSkew(moved, 9_000);
    expect(await writer.flush()).to.equal(2);
    const agent = async (agentId: string) => (await a.getAgent(agentId))!;
    expect((await agent("skew-only")).clockSkewMs).to.equal(1_500);
    expect((await agent("skew-only")).lastSeen.getTime()).to.equal(T0);
    expect((await agent("both")).clockSkewMs).to.equal(-3_000);
    expect((await agent("both")).lastSeen.getTime()).to.equal(T0 + 4_000);
    expect((await agent("moved")).clockSkewMs).to.equal(undefined);
    // A last-seen note alone leaves the stored skew as it is.
    writer.note(skewOnly, T0 + 8_000);
    expect(await writer.flush()).to.equal(1);
    expect((await agent("skew-only")).clockSkewMs).to.equal(1_500);
  });

  it("writes on its timer, and what is left at stop", async () => {
    const store = await db.open();
    const sessions = await startAgentSessions({ sql: store.sql, logger: silentLogger(), replicaId: "a" });
    const writer = startLastSeenWriter({ sql: store.sql, logger: silentLogger(), everyMs: 50 });
    stops.push(sessions);
    await connected(store, "web-1");
    await connected(store, "web-2");
    const claim = await sessions.claim("web-1", "s-1", handlers());
    writer.note(claim, T0 + 1_000);
    const deadline = Date.now() + 10_000;
    while ((await lastSeen(store, "web-1")) !== T0 + 1_000) {
      expect(Date.now(), "written by the timer").to.be.below(deadline);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const other = await sessions.claim("web-2", "s-2", handlers());
    writer.note(other, T0 + 2_000);
    await writer.stop();
    expect(await lastSeen(store, "web-2")).to.equal(T0 + 2_000);
  });
});
