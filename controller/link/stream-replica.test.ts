import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { isSecarcError } from "../../common/errors.js";
import { newId } from "../../common/ids.js";
import { silentLogger } from "../../common/log.js";
import { Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import { startReplicaCoordination, type ReplicaCoordination } from "../replicas/replica-coordination.js";
import type { PostgresStore } from "../store/postgres-store.js";
import { createStreamReplica, fencedStatus } from "./stream-replica.js";

const operator = create(OperatorSchema, { telegramUserId: 7n, displayName: "op" });

describe("a stream's part in the replicas (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const running: ReplicaCoordination[] = [];
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop();
  });
  const replica = async (replicaId: string) => {
    const store = await db.open();
    const coordination = await startReplicaCoordination({ store, logger: silentLogger(), now: Date.now, replicaId });
    running.push(coordination);
    return { store, coordination };
  };
  const stream = (store: PostgresStore, coordination: ReplicaCoordination) => {
    const written: string[] = [];
    const ended: ConnectError[] = [];
    const part = createStreamReplica({
      hooks: coordination.link,
      sessionId: newId(),
      log: silentLogger(),
      writeAction: (action) => (written.push(action.actionId), true),
      end: (error) => ended.push(error),
    });
    return { part, written, ended, store };
  };

  it("the stream on A ends ABORTED when the agent claims on B, A's writes are fenced, and B gets the agent's actions", async () => {
    const [a, b] = [await replica("a"), await replica("b")];
    const onA = stream(a.store, a.coordination);
    await onA.part.claim("web-1");
    await a.store.transaction(onA.part.wrap((tx) => tx.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [], detectors: [], at: new Date() })));
    const actionId = newId();
    await a.store.createAction({ actionId, agentId: "web-1", alertId: undefined, answer: Answer.BLOCK_IP, operator, requestedAt: new Date(), options: undefined, target: undefined });
    await eventually(() => onA.written.length === 1, "A's stream gets the action");

    const onB = stream(b.store, b.coordination);
    await onB.part.claim("web-1");
    await eventually(() => onA.ended.length === 1, "A's stream is ended");
    expect(onA.ended[0]!.code).to.equal(Code.Aborted);
    const refused = await a.store.transaction(onA.part.wrap((tx) => tx.agentDisconnected("web-1", new Date()))).catch((err: unknown) => err);
    expect(isSecarcError(refused, "fenced")).to.equal(true);
    expect(fencedStatus(refused)?.code).to.equal(Code.Aborted);
    expect((await b.store.getAgent("web-1"))?.online, "A's stale stream did not record the agent offline").to.equal(true);
    // The agent says nothing about the action in its Hello: B sends it again (it was sent on A's stream).
    onB.part.welcomed([]);
    await eventually(() => onB.written.length === 1, "B resends the unfinished action");
    expect(onB.written[0]).to.equal(actionId);
    await onA.part.release();
    await onB.part.release();
    expect((await b.store.sql`SELECT released_at FROM agent_sessions WHERE agent_id = 'web-1'`)[0]?.released_at).to.be.a("number");
  });
});
