import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { expect } from "chai";
import { Answer, OperatorSchema } from "../gen/secarc/v1/action_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { eventually } from "./support/agent-process.js";
import { sshAlert, testOperator } from "./support/controller-harness.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { useReplicaFleet } from "./support/replica-fleet.js";

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
  const clients: RawAgentClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  const fleets = useReplicaFleet("secarc-split-");

  it("A frozen, the agent on B: after SIGCONT A neither acks nor delivers for it, and B takes the alert and the tap", async () => {
    const fleet = await fleets.create("split_session");
    const db = fleet.db;
    const replicaA = await fleet.startProcess("a");
    const a = replicaA.process;
    const port = replicaA.port;
    const b = await fleet.startInProcess("b");
    const certs = await fleets.pki.issueAgent("web-1");

    // The agent on A: an alert is acked there once stored.
    const onA = connectRawAgent({ port, ca: fleets.pki.ca, ...certs });
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
    const onB = connectRawAgent({ port: b.port, ca: fleets.pki.ca, ...certs });
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
    await eventually("B marked the action sent", async () => (await db<Array<{ state: string }>>`SELECT state FROM actions WHERE action_id = ${actionId}`)[0]?.state === "sent", 10_000);
    const [session] = await db<Array<{ epoch: number; replica_live: boolean }>>`
      SELECT s.epoch::int AS epoch, s.released_at IS NULL AS replica_live FROM agent_sessions s WHERE agent_id = 'web-1'`;
    expect(session).to.deep.equal({ epoch: 2, replica_live: true });
    // A's stream ended after B took the agent: A did not record it offline.
    const [agent] = await db<Array<{ online: number }>>`SELECT online FROM agents WHERE agent_id = 'web-1'`;
    expect(agent?.online).to.equal(1);
    expect(onB.received.filter(action(actionId))).to.have.length(1);
  });

  it("taps on replica B for an agent held by replica A reach the agent within 1 s (p99, n=100)", async () => {
    const fleet = await fleets.create("taps_across");
    const onA = await fleet.startInProcess("a");
    const onB = await fleet.startInProcess("b");
    const agent = connectRawAgent({ port: onA.port, ca: fleets.pki.ca, ...(await fleets.pki.issueAgent("web-1")) });
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
  });
});
