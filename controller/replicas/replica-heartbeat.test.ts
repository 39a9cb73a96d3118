import { expect } from "chai";
import { isSecarcError } from "../../common/errors.js";
import { silentLogger } from "../../common/log.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import { decidePresence } from "../domain/agent-presence.js";
import type { PostgresStore } from "../store/postgres-store.js";
import { startAgentSessions, type AgentSessions } from "./agent-sessions.js";
import { startReplicaHeartbeat, type ReplicaHeartbeat } from "./replica-heartbeat.js";

const connected = (store: PostgresStore, agentId: string) =>
  store.agentConnected({ agentId, version: "1", hostname: agentId, addresses: [], actions: [], detectors: [], at: new Date() });
const handlers = () => ({ send: () => true, lost: () => {} });

describe("replica heartbeats and failover (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const stops: Array<ReplicaHeartbeat | AgentSessions> = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) await s.stop();
  });

  it("a survivor reaps a silent replica once: its sessions are fenced, its agents offline as of the failover (not paged before offlineAlertAfter from then), agents already elsewhere untouched", async () => {
    const [a, b, c] = [await db.open(), await db.open(), await db.open()];
    // A beats once, at start, then falls silent (its timer is far away); B and C watch with a 1 s death time.
    const heartA = await startReplicaHeartbeat({ sql: a.sql, logger: silentLogger(), replicaId: "a", everyMs: 20_000, deadAfterMs: 60_000 });
    const sessionsA = await startAgentSessions({ sql: a.sql, logger: silentLogger(), replicaId: "a" });
    const sessionsB = await startAgentSessions({ sql: b.sql, logger: silentLogger(), replicaId: "b" });
    stops.push(heartA, sessionsA, sessionsB);
    const claims = [];
    for (const agentId of ["web-1", "web-2", "web-3"]) {
      await connected(a, agentId);
      claims.push(await sessionsA.claim(agentId, `s-${agentId}`, handlers()));
    }
    // web-3 already moved to B (its stream on A is half-open).
    await sessionsB.claim("web-3", "s-b3", handlers());
    await connected(b, "web-3");

    const failovers: Array<{ replicas: string[]; agents: string[] }> = [];
    const watch = (store: PostgresStore, replicaId: string) =>
      startReplicaHeartbeat({ sql: store.sql, logger: silentLogger(), replicaId, everyMs: 100, deadAfterMs: 1_000, onFailover: (replicas, agents) => failovers.push({ replicas, agents }) });
    const [heartB, heartC] = [await watch(b, "b"), await watch(c, "c")];
    stops.push(heartB, heartC);
    await eventually(() => failovers.length > 0, "a survivor reaps A");
    const [reapedAt] = (await b.sql<Array<{ reaped_at: number }>>`SELECT reaped_at FROM replicas WHERE replica_id = 'a'`).map((r) => r.reaped_at);
    await new Promise((resolve) => setTimeout(resolve, 500)); // several more beats of both survivors
    expect(failovers).to.have.length(1);
    expect(failovers[0]!.replicas).to.deep.equal(["a"]);
    expect([...failovers[0]!.agents].sort()).to.deep.equal(["web-1", "web-2"]);

    const agents = await b.listAgents();
    const byId = new Map(agents.map((agent) => [agent.agentId, agent]));
    expect(byId.get("web-1")!.online).to.equal(false);
    expect(byId.get("web-1")!.lastSeen.getTime()).to.be.at.least(reapedAt! - 1);
    expect(byId.get("web-3")!.online).to.equal(true);
    const fenced = await claims[0]!.fenced(async () => "written").catch((err: unknown) => err);
    expect(isSecarcError(fenced, "fenced")).to.equal(true);

    // Presence (agent-presence.ts) on a survivor: no page before offlineAlertAfter counted from the failover.
    const grace = 120_000;
    const presence = (now: number) =>
      decidePresence({
        agents: agents.map((agent) => ({ agentId: agent.agentId, online: agent.online, lastSeen: agent.lastSeen.getTime(), revoked: false })),
        open: [],
        now,
        graceMs: grace,
        watchingSince: 0,
      });
    expect(presence(reapedAt! + grace - 1_000)).to.deep.equal([]);
    expect(presence(byId.get("web-1")!.lastSeen.getTime() + grace).map((e) => e.agentId).sort()).to.deep.equal(["web-1", "web-2"]);

    // A wakes: its next beat says it was reaped, and it beats on as a member again.
    let told = 0;
    const woken = await startReplicaHeartbeat({ sql: a.sql, logger: silentLogger(), replicaId: "a2", everyMs: 20_000, deadAfterMs: 60_000, onReaped: () => (told += 1) });
    stops.push(woken);
    await b.sql`UPDATE replicas SET reaped_at = 1 WHERE replica_id = 'a2'`;
    expect((await woken.beat()).wasReaped).to.equal(true);
    expect((await woken.beat()).wasReaped).to.equal(false);
    expect(told).to.equal(1);
  });

  it("never reaps a replica that stopped cleanly, and refuses a death time shorter than three beats", async () => {
    const [a, b] = [await db.open(), await db.open()];
    const heartA = await startReplicaHeartbeat({ sql: a.sql, logger: silentLogger(), replicaId: "a", everyMs: 20_000, deadAfterMs: 60_000 });
    await heartA.stop();
    await a.sql`UPDATE replicas SET heartbeat_at = heartbeat_at - 3600000`;
    const heartB = await startReplicaHeartbeat({ sql: b.sql, logger: silentLogger(), replicaId: "b", everyMs: 20_000, deadAfterMs: 60_000 });
    stops.push(heartB);
    expect((await heartB.beat()).reaped).to.deep.equal([]);
    const refusal = await startReplicaHeartbeat({ sql: b.sql, logger: silentLogger(), replicaId: "c", everyMs: 1_000, deadAfterMs: 2_000 }).catch((err: unknown) => err);
    expect(isSecarcError(refusal, "config_invalid")).to.equal(true);
  });
});
