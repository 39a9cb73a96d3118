import { expect } from "chai";
import { isSecarcError } from "../../common/errors.js";
import { silentLogger } from "../../common/log.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import type { PostgresStore } from "../store/postgres-store.js";
import { startAgentSessions, type AgentSessions, type SessionHandlers } from "./agent-sessions.js";

/** A stream as the sessions see it: records what it is told. */
function stream() {
  const lost: string[] = [];
  const handlers: SessionHandlers = { send: () => true, lost: (reason) => lost.push(reason) };
  return { handlers, lost };
}
const auditCount = async (store: PostgresStore, event: string) => (await store.sql`SELECT 1 FROM audit WHERE event = ${event}`).length;

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
    const claimOne = await a.sessions.claim("web-1", "s1", one.handlers);
    await a.sessions.claim("web-2", "s2", two.handlers);
    await a.sessions.stop(); // A's LISTEN is gone (as when its connection died without a word)
    await b.sessions.claim("web-1", "s3", stream().handlers);
    await b.sessions.claim("web-2", "s4", stream().handlers);
    const refused = await claimOne.fenced(async () => "written").catch((err: unknown) => err);
    expect(isSecarcError(refused, "fenced")).to.equal(true);
    expect(one.lost).to.have.length(1);
    expect(two.lost).to.have.length(0);
    expect(await a.sessions.verify()).to.equal(1);
    expect(two.lost).to.have.length(1);
    expect(a.sessions.held()).to.deep.equal([]);
  });

  it("a claim waits for a fenced write in flight: the write commits before the new epoch, never after", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const claimA = await a.sessions.claim("web-1", "s1", stream().handlers);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    const write = claimA.fenced(async (tx) => {
      await tx`INSERT INTO audit (at, actor, event, detail) VALUES (1, 'a', 'in-flight', '')`;
      inside();
      await gate;
    });
    await entered;
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
});
