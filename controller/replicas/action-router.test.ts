import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import { newId } from "../../common/ids.js";
import { silentLogger } from "../../common/log.js";
import { Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import type { PostgresStore } from "../store/postgres-store.js";
import type { ActionRecord } from "../store/store.js";
import { startActionRouter, type ActionRouter } from "./action-router.js";
import { startAgentSessions, type AgentSessions } from "./agent-sessions.js";

const operator = create(OperatorSchema, { telegramUserId: 42n, displayName: "op" });
const storeAction = async (store: PostgresStore, agentId: string, actionId = newId()) => {
  const created = await store.createAction({ actionId, agentId, alertId: undefined, answer: Answer.BLOCK_IP, operator, requestedAt: new Date(), options: undefined, target: undefined });
  if (!created.created) throw new Error(`action ${actionId} not stored`);
  return created.action;
};

/** A replica: its pool, sessions and router; `streams` collects what each of its agents' streams received. */
async function startReplica(open: () => Promise<PostgresStore>, replicaId: string, sweepEveryMs = 60_000) {
  const store = await open();
  const sessions = await startAgentSessions({ sql: store.sql, logger: silentLogger(), replicaId });
  const sent: ActionRecord[] = [];
  const router = await startActionRouter({ sql: store.sql, sessions, logger: silentLogger(), now: Date.now, sweepEveryMs, onSent: (a) => sent.push(a) });
  const received = new Map<string, Array<{ actionId: string; at: number }>>();
  const connect = (agentId: string, accepting: () => boolean = () => true) =>
    sessions.claim(agentId, newId(), {
      send: (action) => {
        if (!accepting()) return false;
        received.set(agentId, [...(received.get(agentId) ?? []), { actionId: action.actionId, at: Date.now() }]);
        return true;
      },
      lost: () => {},
    });
  return { store, sessions, router, sent, received, connect };
}

describe("action router across replicas (real PostgreSQL)", function () {
  this.timeout(120_000);
  const db = useReplicaDatabase();
  const stops: Array<AgentSessions | ActionRouter> = [];
  const replica = async (id: string, sweepEveryMs?: number) => {
    const r = await startReplica(() => db.open(), id, sweepEveryMs);
    stops.push(r.router, r.sessions);
    return r;
  };
  afterEach(async () => {
    for (const s of stops.splice(0)) await s.stop();
  });

  it("an action stored on replica B reaches the agent's stream on replica A through NOTIFY within 1 s (p99, n=100), once each", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    await a.connect("web-1");
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const startedAt = Date.now();
      const action = await storeAction(b.store, "web-1");
      const got = await eventually(() => a.received.get("web-1")?.find((r) => r.actionId === action.actionId), `action ${i} on A`, 10_000);
      latencies.push(got.at - startedAt);
    }
    latencies.sort((x, y) => x - y);
    const p99 = latencies[98]!;
    expect(p99, `p99 ${p99} ms, median ${latencies[50]} ms`).to.be.below(1_000);
    expect(a.received.get("web-1")).to.have.length(100);
    expect(new Set(a.received.get("web-1")!.map((r) => r.actionId)).size).to.equal(100);
    // Written to the stream inside the delivering transaction; marked sent once it commits.
    await eventually(() => a.sent.length === 100, "every delivery committed");
    const [row] = await b.store.sql<Array<{ count: number }>>`SELECT count(*)::int AS count FROM actions WHERE state = 'sent'`;
    expect(row?.count).to.equal(100);
    expect(b.received.size).to.equal(0);
  });

  it("only the replica holding the agent's live epoch delivers: a stale holder sends nothing", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    await a.connect("web-1");
    await a.sessions.stop(); // A did not hear B's claim
    await b.connect("web-1");
    const action = await storeAction(b.store, "web-1");
    await eventually(() => b.received.get("web-1")?.length === 1, "B delivers");
    expect(await a.router.deliver("web-1", { resendSent: true })).to.equal(0);
    expect(a.received.size).to.equal(0);
    expect(b.received.get("web-1")![0]!.actionId).to.equal(action.actionId);
  });

  it("concurrent deliveries write each pending action once; a stream that cannot take one leaves it pending for the next", async () => {
    const a = await replica("a");
    let accepting = false;
    await a.connect("web-1", () => accepting);
    await a.store.sql`ALTER TABLE actions DISABLE TRIGGER actions_notify`;
    for (let i = 0; i < 10; i++) await storeAction(a.store, "web-1");
    expect(await a.router.deliver("web-1")).to.equal(0);
    accepting = true;
    const counts = await Promise.all(Array.from({ length: 5 }, () => a.router.deliver("web-1")));
    expect(counts.reduce((x, y) => x + y, 0)).to.equal(10);
    expect(new Set(a.received.get("web-1")!.map((r) => r.actionId)).size).to.equal(10);
  });

  it("sweeps find actions stored without a NOTIFY; a killed LISTEN connection comes back and sweeps at once", async () => {
    const a = await replica("a", 300);
    await a.connect("web-1");
    await a.store.sql`ALTER TABLE actions DISABLE TRIGGER actions_notify`;
    await storeAction(a.store, "web-1");
    await eventually(() => a.received.get("web-1")?.length === 1, "the periodic sweep delivers");

    const b = await replica("b"); // sweeps only every 60 s: what it finds after a re-LISTEN is the re-LISTEN's sweep
    await b.connect("web-2");
    await storeAction(b.store, "web-2");
    const killed = await b.store.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'listen%' AND pid <> pg_backend_pid()`;
    expect(killed.length).to.be.greaterThan(0);
    await eventually(() => b.received.get("web-2")?.length === 1, "the re-LISTEN sweep delivers");
  });

  it("on a stream open, actions sent on an older stream go again, except those the agent has results for", async () => {
    const a = await replica("a");
    await a.store.sql`ALTER TABLE actions DISABLE TRIGGER actions_notify`;
    await a.connect("web-1");
    const ids = [newId(), newId(), newId()];
    for (const id of ids) await storeAction(a.store, "web-1", id);
    expect(await a.router.deliver("web-1")).to.equal(3);
    await a.connect("web-1"); // the agent reconnects
    expect(await a.router.deliver("web-1", { resendSent: true, except: new Set([ids[1]!]) })).to.equal(2);
    expect(a.received.get("web-1")!.map((r) => r.actionId)).to.deep.equal([...ids, ids[0], ids[2]]);
  });

  it("streams opened together are looked up in one query; only agents with unfinished actions get a delivery", async () => {
    const a = await replica("a");
    await a.store.sql`ALTER TABLE actions DISABLE TRIGGER actions_notify`;
    const agents = Array.from({ length: 40 }, (_, i) => `web-${i}`);
    for (const agentId of agents) await a.connect(agentId);
    const [sent, pending] = [newId(), newId()];
    await storeAction(a.store, "web-7", sent);
    expect(await a.router.deliver("web-7")).to.equal(1);
    await storeAction(a.store, "web-7", pending);
    await storeAction(a.store, "web-30");
    // Each delivery is a fenced transaction of the agent's claim: count them.
    let fencedTransactions = 0;
    for (const agentId of agents) {
      const claim = a.sessions.get(agentId)!;
      const fenced = claim.fenced.bind(claim);
      (claim as { fenced: typeof claim.fenced }).fenced = (fn) => ((fencedTransactions += 1), fenced(fn));
    }
    const counts = await Promise.all(agents.map((agentId) => a.router.deliverOnOpen(agentId, { resendSent: true, except: new Set(agentId === "web-7" ? [sent] : []) })));
    expect(counts.filter((n) => n > 0)).to.deep.equal([1, 1]);
    expect([counts[7], counts[30]]).to.deep.equal([1, 1]);
    expect(a.received.get("web-7")!.map((r) => r.actionId)).to.deep.equal([sent, pending]);
    expect(fencedTransactions).to.equal(2);
  });
});
