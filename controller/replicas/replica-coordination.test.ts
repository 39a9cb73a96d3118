import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { isSecarcError } from "../../common/errors.js";
import { newId } from "../../common/ids.js";
import { silentLogger } from "../../common/log.js";
import { Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import { createWriteBatcher } from "../link/write-batcher.js";
import type { PgStoreOperations } from "../store/postgres-types.js";
import type { StoreOperations } from "../store/store.js";
import { startReplicaCoordination, type ReplicaCoordination } from "./replica-coordination.js";

const alert = (id: string) =>
  create(AlertSchema, { id, revision: 1, kind: AlertKind.SSH_SESSION, severity: Severity.WARNING, state: AlertState.OPEN, detectedAt: timestampFromMs(Date.now()), summary: id });
const operator = create(OperatorSchema, { telegramUserId: 7n, displayName: "op" });

describe("replica coordination: the hooks the link and the bridge call (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const running: ReplicaCoordination[] = [];
  const replica = async (replicaId: string) => {
    const store = await db.open();
    const coordination = await startReplicaCoordination({ store, logger: silentLogger(), now: Date.now, replicaId, telegramLeaseTtlMs: 3_000 });
    running.push(coordination);
    return { store, coordination };
  };
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop();
  });

  it("in one group commit, the write of a stale stream is refused and the others commit", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const lost: string[] = [];
    const handlers = (agentId: string) => ({ send: () => true, lost: () => lost.push(agentId) });
    const stale = await a.coordination.link.claim("web-1", "s1", handlers("web-1"));
    const live = await a.coordination.link.claim("web-2", "s2", handlers("web-2"));
    await b.coordination.link.claim("web-1", "s3", handlers("web-1 on b"));
    // As WriteBatcher does: one transaction, each write's failure caught on its own.
    const outcomes = await a.store.transaction(async (tx) => {
      const results: string[] = [];
      for (const [claim, id] of [[stale, "x1"], [live, "x2"]] as const) {
        try {
          await a.coordination.link.fence(claim, (ops) => ops.upsertAlert(claim.agentId, alert(id), new Date()))(tx);
          results.push("stored");
        } catch (err) {
          results.push(isSecarcError(err, "fenced") ? "fenced" : String(err));
        }
      }
      return results;
    });
    expect(outcomes).to.deep.equal(["fenced", "stored"]);
    expect(await a.store.getAlert("x1")).to.equal(undefined);
    expect((await a.store.getAlert("x2"))?.agentId).to.equal("web-2");
    await eventually(() => lost.includes("web-1"), "A's stale stream is told to end");
    expect(lost).to.not.include("web-2");
  });

  it("in a group commit with prefetches, checks every claim's fence in one statement and stores the alerts of the live ones in one insert; a stale one's alert is not stored", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const lost: string[] = [];
    const handlers = (agentId: string) => ({ send: () => true, lost: () => lost.push(agentId) });
    const stale = await a.coordination.link.claim("web-1", "s1", handlers("web-1"));
    const live = await a.coordination.link.claim("web-2", "s2", handlers("web-2"));
    const live2 = await a.coordination.link.claim("web-3", "s3", handlers("web-3"));
    await b.coordination.link.claim("web-1", "s4", handlers("web-1 on b"));
    let ownChecks = 0;
    for (const claim of [live, live2]) {
      const check = claim.check.bind(claim);
      (claim as { check: typeof claim.check }).check = (q) => ((ownChecks += 1), check(q));
    }
    const batcher = createWriteBatcher({ store: a.store, maxBatchMs: 60_000 });
    const write = (claim: typeof stale, id: string) => {
      const payload = { agentId: claim.agentId, alert: alert(id), at: new Date() };
      return batcher
        .run(
          a.coordination.link.fence(claim, (ops: StoreOperations) => ops.upsertAlert(payload.agentId, payload.alert, payload.at)),
          claim.sessionId,
          [{ prefetch: a.coordination.link.fencePrefetch, payload: claim }, { prefetch: a.store.alertPrefetch, payload }],
        )
        .then((r) => r.outcome, (err: unknown) => (isSecarcError(err, "fenced") ? "fenced" : String(err)));
    };
    const outcomes = await Promise.all([write(live, "p1"), write(stale, "p2"), write(live, "p3"), write(live2, "p4")]);
    expect(outcomes).to.deep.equal(["inserted", "fenced", "inserted", "inserted"]);
    expect(batcher.stats()).to.deep.equal({ writes: 4, batches: 1 });
    expect(ownChecks).to.equal(0);
    expect(await a.store.getAlert("p2")).to.equal(undefined);
    expect((await a.store.getAlert("p3"))?.agentId).to.equal("web-2");
    await eventually(() => lost.includes("web-1"), "A's stale stream is told to end");
  });

  it("checks a claim's fence once per transaction, however many of its writes the group commit holds", async () => {
    const { store, coordination } = await replica("a");
    const claim = await coordination.link.claim("web-1", "s1", { send: () => true, lost: () => {} });
    let checks = 0;
    const check = claim.check.bind(claim);
    (claim as { check: typeof claim.check }).check = (q) => ((checks += 1), check(q));
    const write = (id: string) => coordination.link.fence(claim, (ops: PgStoreOperations) => ops.upsertAlert("web-1", alert(id), new Date()));
    await store.transaction(async (tx) => {
      for (const id of ["y1", "y2", "y3"]) await write(id)(tx);
    });
    expect(checks).to.equal(1);
    await store.transaction((tx) => write("y4")(tx));
    expect(checks).to.equal(2);
    expect((await store.getAlert("y3"))?.agentId).to.equal("web-1");
  });

  it("one Telegram voice between two replicas, and each update handled once with its effect", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    await eventually(() => [a, b].filter((r) => r.coordination.telegram.speaking() !== undefined).length === 1 || undefined, "one voice");
    const handled = await Promise.all(
      [a, b].flatMap((r) =>
        [1, 2, 3].map((updateId) =>
          r.coordination.telegram.handleOnce(updateId, async (tx) => {
            await tx.createAction({ actionId: newId(), agentId: "web-1", alertId: `alert-${updateId}`, answer: Answer.BLOCK_IP, operator, requestedAt: new Date(), options: undefined, target: undefined });
          }),
        ),
      ),
    );
    expect(handled.filter(Boolean)).to.have.length(3);
    const [row] = await a.store.sql<Array<{ count: number }>>`SELECT count(*)::int AS count FROM actions`;
    expect(row?.count).to.equal(3);
  });

  it("an update given to two replicas at once is handled by one; the other waits for it and skips; one that failed is handled again", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const handledBy: string[] = [];
    let release: () => void = () => {};
    const slow = new Promise<void>((resolve) => (release = resolve));
    const first = a.coordination.telegram.handleUpdate(41, async () => {
      handledBy.push("a");
      await slow;
    });
    await eventually(() => handledBy.length === 1, "a handles update 41");
    // B is given the same update while A still handles it: it waits for A's mark, then skips.
    const second = b.coordination.telegram.handleUpdate(41, async () => void handledBy.push("b"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(handledBy).to.deep.equal(["a"]);
    release();
    expect(await Promise.all([first, second])).to.deep.equal([true, false]);
    expect(handledBy).to.deep.equal(["a"]);

    // A handler that throws leaves the update to the next replica.
    const failed = await a.coordination.telegram.handleUpdate(42, () => Promise.reject(new Error("store down"))).catch((err: unknown) => String(err));
    expect(failed).to.equal("Error: store down");
    expect(await b.coordination.telegram.handleUpdate(42, async () => void handledBy.push("b"))).to.equal(true);
    expect(handledBy).to.deep.equal(["a", "b"]);
  });

  it("tells its followers when it becomes the Telegram voice and when it stops being it", async () => {
    const a = await replica("a");
    const heard: Array<number | undefined> = [];
    a.coordination.telegram.follow((epoch) => heard.push(epoch));
    await eventually(() => a.coordination.telegram.speaking() !== undefined, "a speaks");
    const b = await replica("b");
    expect(b.coordination.telegram.speaking()).to.equal(undefined);
    await running.splice(running.indexOf(a.coordination), 1)[0]!.stop();
    await eventually(() => b.coordination.telegram.speaking() !== undefined, "b speaks after a gave the lease up");
    expect(heard.at(-1)).to.equal(undefined);
    expect(heard.filter((e) => e === undefined), "one loss, at the stop").to.have.length(1);
  });

  it("a tap stored on replica B goes to the agent's stream on A after its Welcome, and not again to the agent's results", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const received: string[] = [];
    const claim = await a.coordination.link.claim("web-1", "s1", { send: (action) => (received.push(action.actionId), true), lost: () => {} });
    const finished = newId();
    for (const actionId of [finished, newId()]) {
      await b.store.createAction({ actionId, agentId: "web-1", alertId: undefined, answer: Answer.BLOCK_IP, operator, requestedAt: new Date(), options: undefined, target: undefined });
    }
    await eventually(() => received.length === 2, "both delivered through NOTIFY");
    expect(await a.coordination.link.welcomed(claim, [finished])).to.equal(1);
    expect(received.filter((id) => id === finished)).to.have.length(1);
  });
});
