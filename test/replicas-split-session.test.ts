import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import postgres from "postgres";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { Answer, OperatorSchema } from "../gen/secarc/v1/action_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { eventually, freeLoopbackPort } from "./support/agent-process.js";
import { sshAlert, testControllerConfig, testOperator } from "./support/controller-harness.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";

const acked = (alertId: string) => (m: ControllerMessage) => m.payload.case === "alertAck" && m.payload.value.alertId === alertId;
const action = (actionId?: string) => (m: ControllerMessage) => m.payload.case === "responseAction" && (actionId === undefined || m.payload.value.actionId === actionId);
const hello = { agentId: "web-1", agentVersion: "test", hostname: "web-1.example", actions: [Answer.BLOCK_IP], detectors: [1], finishedActionIds: [] };

const actionFor = (alertId: string) => (m: ControllerMessage) => m.payload.case === "responseAction" && m.payload.value.alertId === alertId;

/**
 * Issue 15 acceptance 3, split session: replica A (a process) is frozen
 * with SIGSTOP while its stream to the agent is still open; the agent
 * connects to replica B on the same PostgreSQL; after SIGCONT, A cannot
 * deliver or ack anything for the agent (its writes are fenced by the
 * session epoch), and nothing is lost: what A held back is taken by B.
 */
describe("replicas on PostgreSQL: a split session is fenced", function () {
  this.timeout(180_000);
  let cluster: PgCluster;
  let pki: TestPki;
  let dir: string;
  let db: postgres.Sql | undefined;
  let a: ControllerProcess | undefined;
  let b: RunningController | undefined;
  const clients: RawAgentClient[] = [];

  before(async () => {
    cluster = await startPgCluster();
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-split-"));
  });
  after(async () => {
    for (const c of clients) c.close();
    if (a) {
      a.kill("SIGCONT");
      a.kill("SIGKILL");
      await a.stopped;
    }
    await b?.close();
    await db?.end({ timeout: 5 });
    await cluster?.stop();
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("A frozen, the agent on B: after SIGCONT A neither acks nor delivers for it, and B takes the alert and the tap", async () => {
    const url = await cluster.createDatabase("split_session");
    db = postgres(url, { max: 1, onnotice: () => {} });
    const store = { postgres: { url, poolSize: 4 } };
    const port = await freeLoopbackPort();
    a = await startControllerProcess({
      config: { listen: { host: "127.0.0.1", port }, tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key }, store, admin: { socket: join(dir, "a.sock") }, log: { level: "warn" } },
    });
    b = await startController({ config: testControllerConfig(pki, dir, { store, admin: { socket: join(dir, "b.sock") } }), logger: silentLogger() });
    const certs = await pki.issueAgent("web-1");

    // The agent on A: an alert is acked there once stored.
    const onA = connectRawAgent({ port, ca: pki.ca, ...certs });
    clients.push(onA);
    onA.hello(hello);
    await onA.waitFor((m) => m.payload.case === "welcome", 20_000);
    const first = sshAlert();
    onA.send({ payload: { case: "alert", value: first } });
    await onA.waitFor(acked(first.id), 20_000);

    // A freezes; the agent's next alert sits in A's socket; the agent (its keepalive gave up on A) connects to B.
    a.kill("SIGSTOP");
    const heldBack = sshAlert();
    onA.send({ payload: { case: "alert", value: heldBack } });
    const onB = connectRawAgent({ port: b.port, ca: pki.ca, ...certs });
    clients.push(onB);
    onB.hello(hello);
    await onB.waitFor((m) => m.payload.case === "welcome", 30_000);

    // An operator answers on B while A is frozen: B, which holds the agent, delivers it.
    const requested = await b.actions.request({ agentId: "web-1", alertId: first.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) });
    if (!requested.ok) throw new Error(requested.detail);
    const delivered = await onB.waitFor(action(), 20_000);
    const actionId = delivered.payload.case === "responseAction" ? delivered.payload.value.actionId : "";

    // A wakes: its stream for the agent ends ABORTED, with no ack of what it held back and no action.
    a.kill("SIGCONT");
    const status = await onA.ended;
    expect(status.code, status.details).to.equal(grpc.status.ABORTED);
    expect(onA.received.some(acked(heldBack.id)), "A acked an alert for an agent it no longer holds").to.equal(false);
    expect(onA.received.some(action()), "A delivered an action to an agent it no longer holds").to.equal(false);
    // What A held back, the agent sends again to B: stored once, acked there.
    onB.send({ payload: { case: "alert", value: heldBack } });
    await onB.waitFor(acked(heldBack.id), 20_000);

    const rows = await db<Array<{ alert_id: string }>>`SELECT alert_id FROM alerts ORDER BY seq`;
    expect(rows.map((r) => r.alert_id)).to.deep.equal([first.id, heldBack.id]);
    // Marked sent by B once its delivering transaction commits (just after the write to the stream).
    await eventually("B marked the action sent", async () => (await db!<Array<{ state: string }>>`SELECT state FROM actions WHERE action_id = ${actionId}`)[0]?.state === "sent", 10_000);
    const [session] = await db<Array<{ epoch: number; replica_live: boolean }>>`
      SELECT s.epoch::int AS epoch, s.released_at IS NULL AS replica_live FROM agent_sessions s WHERE agent_id = 'web-1'`;
    expect(session).to.deep.equal({ epoch: 2, replica_live: true });
    // A's stream ended after B took the agent: A did not record it offline.
    const [agent] = await db<Array<{ online: number }>>`SELECT online FROM agents WHERE agent_id = 'web-1'`;
    expect(agent?.online).to.equal(1);
    expect(onB.received.filter(action(actionId))).to.have.length(1);
  });

  it("taps on replica B for an agent held by replica A reach the agent within 1 s (p99, n=100)", async () => {
    const url = await cluster.createDatabase("taps_across");
    const store = { postgres: { url, poolSize: 4 } };
    const replica = (name: string) => startController({ config: testControllerConfig(pki, dir, { store, admin: { socket: join(dir, `${name}-taps.sock`) } }), logger: silentLogger() });
    const onA = await replica("a");
    const onB = await replica("b");
    try {
      const agent = connectRawAgent({ port: onA.port, ca: pki.ca, ...(await pki.issueAgent("web-1")) });
      clients.push(agent);
      agent.hello(hello);
      await agent.waitFor((m) => m.payload.case === "welcome", 20_000);
      const alerts = Array.from({ length: 100 }, () => sshAlert());
      for (const alert of alerts) agent.send({ payload: { case: "alert", value: alert } });
      await Promise.all(alerts.map((alert) => agent.waitFor(acked(alert.id), 30_000)));

      const latencies: number[] = [];
      for (const alert of alerts) {
        const startedAt = performance.now();
        const requested = await onB.actions.request({ agentId: "web-1", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) });
        if (!requested.ok) throw new Error(requested.detail);
        expect(requested.delivered, "B does not hold the agent: it only stores the action").to.equal(false);
        await agent.waitFor(actionFor(alert.id), 10_000);
        latencies.push(performance.now() - startedAt);
      }
      latencies.sort((x, y) => x - y);
      const p99 = latencies[98]!;
      expect(p99, `tap to agent: p50 ${latencies[49]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies[99]!.toFixed(1)} ms`).to.be.below(1_000);
      expect(agent.received.filter(action())).to.have.length(100);
    } finally {
      await onB.close();
      await onA.close();
    }
  });
});
