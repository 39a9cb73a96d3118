import { expect } from "chai";
import postgres from "postgres";
import { isSecarcError } from "../../common/errors.js";
import { silentLogger } from "../../common/log.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import type { PostgresStore } from "../store/postgres-store.js";
import { startAgentSessions, type AgentClaim, type AgentSessions, type SessionHandlers } from "./agent-sessions.js";

/** A stream as the sessions see it: records what it is told. */
function stream() {
  const lost: string[] = [];
  const handlers: SessionHandlers = { send: () => true, lost: (reason) => lost.push(reason) };
  return { handlers, lost };
}
const auditCount = async (store: PostgresStore, event: string) => (await store.sql`SELECT 1 FROM audit WHERE event = ${event}`).length;
/** The transactions that wrote anything since `since` (a value of this function), cluster-wide. */
const writeTransactions = async (store: PostgresStore, since?: number) => {
  const [row] = await store.sql<Array<{ xid: string }>>`SELECT txid_current()::text AS xid`;
  return Number(row!.xid) - (since === undefined ? 0 : since + 1);
};

/** A fenced write of `claim` that has written its audit row and holds its transaction open until `release()`. */
async function holdFencedWrite(claim: AgentClaim): Promise<{ write: Promise<void>; release: () => void }> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let inside!: () => void;
  const entered = new Promise<void>((resolve) => (inside = resolve));
  const write = claim.fenced(async (tx) => {
    await tx`INSERT INTO audit (at, actor, event, detail) VALUES (1, 'a', 'in-flight', '')`;
    inside();
    await gate;
  });
  await entered;
  return { write, release };
}

describe("agent sessions across replicas (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const running: AgentSessions[] = [];
  const replica = async (replicaId: string) => {
    const store = await db.open();
    const sessions = await startAgentSessions({ sql: store.sql, logger: silentLogger(), replicaId });
    running.push(sessions);
    return { store, sessions };
  };
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  it("a newer stream on replica B ends A's through NOTIFY; A can then neither write nor record the agent offline", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const onA = stream();
    const claimA = await a.sessions.claim("web-1", "s1", onA.handlers);
    expect(claimA.epoch).to.equal(1);
    await claimA.fenced((tx) => tx`INSERT INTO audit (at, actor, event, detail) VALUES (1, 'a', 'before', '')`);
    const claimB = await b.sessions.claim("web-1", "s2", stream().handlers);
    expect(claimB.epoch).to.equal(2);
    await eventually(() => onA.lost.length === 1, "A hears that B took the agent");
    expect(onA.lost[0]).to.match(/replica b \(epoch 2\)/);
    expect(a.sessions.get("web-1")).to.equal(undefined);

    const refused = await claimA.fenced((tx) => tx`INSERT INTO audit (at, actor, event, detail) VALUES (2, 'a', 'stale', '')`).catch((err: unknown) => err);
    expect(isSecarcError(refused, "fenced"), String(refused)).to.equal(true);
    expect(await auditCount(a.store, "stale")).to.equal(0);
    expect(await auditCount(a.store, "before")).to.equal(1);
    let recordedOffline = false;
    expect(await claimA.release(async () => void (recordedOffline = true))).to.equal(false);
    expect(recordedOffline).to.equal(false);
    expect(await claimB.release(async () => void (recordedOffline = true))).to.equal(true);
    expect(recordedOffline).to.equal(true);
    // Released: the epoch fences nothing in any more.
    const afterRelease = await claimB.fenced(async () => "written").catch((err: unknown) => err);
    expect(isSecarcError(afterRelease, "fenced")).to.equal(true);
  });

  it("a replica that missed the NOTIFY is fenced at its first write, and verify() finds the claims it lost", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const one = stream();
    const two = stream();
    const three = stream();
    const claimOne = await a.sessions.claim("web-1", "s1", one.handlers);
    await a.sessions.claim("web-2", "s2", two.handlers);
    await a.sessions.claim("web-3", "s5", three.handlers);
    await a.sessions.stop(); // A's LISTEN is gone (as when its connection died without a word)
    await b.sessions.claim("web-1", "s3", stream().handlers);
    await b.sessions.claim("web-2", "s4", stream().handlers);
    const refused = await claimOne.fenced(async () => "written").catch((err: unknown) => err);
    expect(isSecarcError(refused, "fenced")).to.equal(true);
    expect(one.lost).to.have.length(1);
    expect(two.lost).to.have.length(0);
    expect(await a.sessions.verify()).to.equal(1);
    expect(two.lost).to.have.length(1);
    // The claim nobody took over still holds.
    expect(three.lost).to.have.length(0);
    expect(a.sessions.held()).to.deep.equal(["web-3"]);
    expect(await a.sessions.verify()).to.equal(0);
  });

  it("a claim waits for a fenced write in flight: the write commits before the new epoch, never after", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const claimA = await a.sessions.claim("web-1", "s1", stream().handlers);
    const { write, release } = await holdFencedWrite(claimA);
    let claimed = false;
    const claimB = b.sessions.claim("web-1", "s2", stream().handlers).then((c) => ((claimed = true), c));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(claimed, "B's claim must wait for A's open fenced transaction").to.equal(false);
    release();
    await write;
    expect((await claimB).epoch).to.equal(2);
    expect(await auditCount(a.store, "in-flight")).to.equal(1);
  });

  it("two streams of one agent on one replica: the later claim holds it and the earlier stream is ended", async () => {
    const { sessions } = await replica("a");
    const first = stream();
    const second = stream();
    const c1 = await sessions.claim("web-1", "s1", first.handlers);
    const c2 = await sessions.claim("web-1", "s2", second.handlers);
    expect(c2.epoch).to.equal(c1.epoch + 1);
    expect(first.lost).to.have.length(1);
    expect(second.lost).to.have.length(0);
    expect(sessions.get("web-1")?.sessionId).to.equal("s2");
    expect(await c2.fenced(async () => "ok")).to.equal("ok");
  });

  it("a replica frozen inside a fenced transaction holds a newer claim back only until the server ends that transaction", async function () {
    this.timeout(90_000);
    const [a, b] = [await replica("a"), await replica("b")];
    const claimA = await a.sessions.claim("web-1", "s1", stream().handlers);
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    // Never resumes its transaction: the server's idle timeout ends it and rolls the write back.
    const frozen = claimA.fenced(async (tx) => {
      await tx`INSERT INTO audit (at, actor, event, detail) VALUES (1, 'a', 'frozen', '')`;
      inside();
      await new Promise((resolve) => setTimeout(resolve, 40_000));
    });
    const outcome = frozen.then(() => "committed", () => "rolled back");
    await entered;
    const claimB = await b.sessions.claim("web-1", "s2", stream().handlers);
    expect(claimB.epoch).to.equal(2);
    expect(await auditCount(b.store, "frozen")).to.equal(0);
    expect(await outcome).to.equal("rolled back");
  });

  it("a burst of 1,200 claims is written in a few transactions; every claim gets its epoch and the older holder of each hears of it", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const ids = Array.from({ length: 1200 }, (_, i) => `web-${i}`);
    const onA = ids.map(() => stream());
    const first = await Promise.all(ids.map((id, i) => a.sessions.claim(id, `a-${i}`, onA[i]!.handlers)));
    expect(new Set(first.map((c) => c.epoch))).to.deep.equal(new Set([1]));
    expect(a.sessions.held()).to.have.length(1200);

    const since = await writeTransactions(b.store);
    const second = await Promise.all(ids.map((id, i) => b.sessions.claim(id, `b-${i}`, stream().handlers)));
    const transactions = await writeTransactions(b.store, since);
    expect(transactions, "1,200 claims at once: batches of at most 500, not a transaction each").to.be.within(3, 6);
    expect(new Set(second.map((c) => c.epoch))).to.deep.equal(new Set([2]));
    expect(second.map((c) => c.sessionId)).to.deep.equal(ids.map((_, i) => `b-${i}`));
    await eventually(() => onA.every((s) => s.lost.length === 1), "every stream on A hears that B took its agent");
    expect(a.sessions.held()).to.deep.equal([]);
    const [row] = await b.store.sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM agent_sessions WHERE replica_id = 'b' AND epoch = 2 AND released_at IS NULL`;
    expect(row!.n).to.equal(1200);
  });

  it("streams of one agent claimed in one burst: epochs follow the order they were asked for, the last holds the agent, the others are told lost", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const streams = [stream(), stream(), stream(), stream()];
    const [firstOnA, other, secondOnA, onB] = await Promise.all([
      a.sessions.claim("web-1", "s1", streams[0]!.handlers),
      a.sessions.claim("web-2", "s2", streams[1]!.handlers),
      a.sessions.claim("web-1", "s3", streams[2]!.handlers),
      b.sessions.claim("web-1", "s4", streams[3]!.handlers),
    ]);
    // B's claim races A's two; on A, the later stream always gets the higher epoch.
    const webOne = [firstOnA!, secondOnA!, onB!];
    expect(secondOnA!.epoch).to.be.greaterThan(firstOnA!.epoch);
    expect(other!.epoch).to.equal(1);
    expect(webOne.map((c) => c.epoch).sort()).to.deep.equal([1, 2, 3]);
    const last = webOne.reduce((x, y) => (y.epoch > x.epoch ? y : x));
    const webOneStreams = [streams[0]!, streams[2]!, streams[3]!];
    await eventually(() => webOneStreams.filter((s) => s.lost.length === 1).length === 2, "the two older streams of web-1 are told lost");
    expect(webOneStreams[webOne.indexOf(last)]!.lost).to.have.length(0);
    expect(streams[1]!.lost).to.have.length(0);
    expect(await last.fenced(async () => "ok")).to.equal("ok");
    const refused = await firstOnA!.fenced(async () => "written").catch((err: unknown) => err);
    expect(isSecarcError(refused, "fenced")).to.equal(true);

    // And all on one replica, three in one turn: s5 < s6 < s7.
    const later = [stream(), stream(), stream()];
    const [d1, d2, d3] = await Promise.all(["s5", "s6", "s7"].map((s, i) => a.sessions.claim("web-9", s, later[i]!.handlers)));
    expect([d1!.epoch, d2!.epoch, d3!.epoch]).to.deep.equal([1, 2, 3]);
    expect(later.map((s) => s.lost.length)).to.deep.equal([1, 1, 0]);
    expect(a.sessions.get("web-9")?.sessionId).to.equal("s7");
  });

  it("an agent whose row a fenced write holds does not hold back the claims batched with it; its own claim commits after that write", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const claimA = await a.sessions.claim("web-0", "s0", stream().handlers);
    const { write, release } = await holdFencedWrite(claimA);
    let heldClaimed = false;
    const held = b.sessions.claim("web-0", "t0", stream().handlers).then((c) => ((heldClaimed = true), c));
    const others = await Promise.all(Array.from({ length: 50 }, (_, i) => b.sessions.claim(`web-${i + 1}`, `t${i + 1}`, stream().handlers)));
    expect(others.map((c) => c.epoch)).to.deep.equal(others.map(() => 1));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(heldClaimed, "web-0's claim waits for A's open fenced transaction").to.equal(false);
    release();
    await write;
    expect((await held).epoch).to.equal(2);
    expect(await auditCount(a.store, "in-flight")).to.equal(1);
  });

  it("a batch that fails rejects each of its claims, and the claims after it are written", async () => {
    const { store, sessions } = await replica("a");
    const streams = [stream(), stream(), stream()];
    // PostgreSQL refuses a NUL in text: the statement, and so the whole batch, fails.
    const outcomes = await Promise.allSettled([
      sessions.claim("web-1", "s1", streams[0]!.handlers),
      sessions.claim("bad\u0000id", "s2", streams[1]!.handlers),
      sessions.claim("web-3", "s3", streams[2]!.handlers),
    ]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(["rejected", "rejected", "rejected"]);
    expect(sessions.held()).to.deep.equal([]);
    expect((await store.sql`SELECT 1 FROM agent_sessions`).length, "the failed batch wrote nothing").to.equal(0);
    const [one, three] = await Promise.all([sessions.claim("web-1", "s4", stream().handlers), sessions.claim("web-3", "s5", stream().handlers)]);
    expect([one.epoch, three.epoch]).to.deep.equal([1, 1]);
    expect(await one.fenced(async () => "ok")).to.equal("ok");
    expect(sessions.held().sort()).to.deep.equal(["web-1", "web-3"]);
  });

  it("claims fail while the database refuses connections and are written again once it takes them", async function () {
    this.timeout(60_000);
    const { store, sessions } = await replica("a");
    await sessions.claim("web-1", "s1", stream().handlers);
    const [row] = await store.sql<Array<{ name: string }>>`SELECT current_database() AS name`;
    const name = row!.name;
    const admin = postgres(db.cluster().url, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name}`;
      const refused = await Promise.allSettled([sessions.claim("web-1", "s2", stream().handlers), sessions.claim("web-2", "s3", stream().handlers)]);
      expect(refused.map((o) => o.status)).to.deep.equal(["rejected", "rejected"]);
      await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    } finally {
      await admin.end({ timeout: 5 });
    }
    const [again, two] = await Promise.all([sessions.claim("web-1", "s4", stream().handlers), sessions.claim("web-2", "s5", stream().handlers)]);
    expect([again.epoch, two.epoch]).to.deep.equal([2, 1]);
    expect(sessions.get("web-1")?.sessionId).to.equal("s4");
  });
});
