import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { Answer, OperatorSchema, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertState } from "../gen/secarc/v1/alert_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import type { ControllerEvent } from "../controller/domain/events.js";
import type { SqliteStore } from "../controller/store/sqlite-store.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { sshAlert, startControllerHarness, testOperator, type ControllerHarness } from "./support/controller-harness.js";

const ACTIONS = [Answer.ALLOW, Answer.CLOSE_SESSION, Answer.BLOCK_IP];
const isCase = (c: ControllerMessage["payload"]["case"]) => (m: ControllerMessage) => m.payload.case === c;

describe("controller link: alerts, actions and results over mutual TLS", function () {
  this.timeout(20_000);
  let h: ControllerHarness;
  const clients: RawAgentClient[] = [];

  async function agent(name: string, finishedActionIds: string[] = []): Promise<RawAgentClient> {
    const certs = await h.pki.issueAgent(name);
    return connectAs(name, certs, finishedActionIds);
  }
  async function connectAs(name: string, certs: { cert: string; key: string }, finishedActionIds: string[] = []): Promise<RawAgentClient> {
    const client = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...certs });
    clients.push(client);
    client.hello({ agentId: name, agentVersion: "test", hostname: `${name}.example`, actions: ACTIONS, detectors: [1], finishedActionIds });
    await client.waitFor(isCase("welcome"));
    return client;
  }
  const alertRows = () => ((h.controller.store as SqliteStore).db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number }).n;

  beforeEach(async () => {
    h = await startControllerHarness();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await h.cleanup();
  });

  it("answers Hello with Welcome and records the agent online, then offline when the stream ends", async () => {
    const events: ControllerEvent[] = [];
    h.controller.events.subscribe((e) => events.push(e));
    const client = await agent("web-1");
    const welcome = client.received.find(isCase("welcome"))!;
    if (welcome.payload.case !== "welcome") throw new Error("unreachable");
    expect(welcome.payload.value.maxMessageBytes).to.equal(1_048_576);
    expect(Number(welcome.payload.value.heartbeatInterval?.seconds)).to.equal(10);
    expect(welcome.payload.value.sessionId).to.match(/^[0-9a-f-]{36}$/);
    expect(h.controller.onlineAgents()).to.deep.equal(["web-1"]);
    const stored = (await h.controller.store.getAgent("web-1"))!;
    expect(stored).to.include({ online: true, hostname: "web-1.example", connects: 1 });
    expect(stored.actions).to.deep.equal(ACTIONS);
    expect(events).to.deep.include({ type: "agent", agentId: "web-1", online: true, labels: {}, connects: 1 });

    client.end();
    const status = await client.ended;
    expect(status.code).to.equal(0);
    for (let i = 0; i < 50 && (await h.controller.store.getAgent("web-1"))!.online; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect((await h.controller.store.getAgent("web-1"))!.online).to.equal(false);
    expect(h.controller.onlineAgents()).to.deep.equal([]);
    expect(events).to.deep.include({ type: "agent", agentId: "web-1", online: false });
  });

  it("stores an alert before acking it, and acks a resend without storing it twice", async () => {
    const client = await agent("web-1");
    const events: ControllerEvent[] = [];
    h.controller.events.subscribe((e) => events.push(e));
    const alert = sshAlert();
    let rowsAtAck = -1;
    const acked = client.waitFor((m) => {
      if (m.payload.case !== "alertAck") return false;
      rowsAtAck = alertRows();
      return m.payload.value.alertId === alert.id;
    });
    client.send({ payload: { case: "alert", value: alert } });
    const ack = await acked;
    expect(rowsAtAck).to.equal(1);
    expect(ack.payload.value).to.include({ alertId: alert.id, revision: 1 });
    expect((await h.controller.store.getAlert(alert.id))!.agentId).to.equal("web-1");
    expect(events).to.deep.include({ type: "alert", alertId: alert.id, agentId: "web-1", outcome: "inserted", kind: alert.kind, severity: alert.severity });

    client.send({ payload: { case: "alert", value: alert } });
    const resolved = sshAlert({ id: alert.id, revision: 2, state: AlertState.RESOLVED });
    client.send({ payload: { case: "alert", value: resolved } });
    await client.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.revision === 2);
    expect(client.received.filter(isCase("alertAck"))).to.have.length(3);
    expect(alertRows()).to.equal(1);
    expect((await h.controller.store.getAlert(alert.id))!.alert.state).to.equal(AlertState.RESOLVED);
    expect(events.filter((e) => e.type === "alert")).to.have.length(2);
  });

  it("delivers an action at once to an online agent, with the target taken from the alert", async () => {
    const client = await agent("web-1");
    const alert = sshAlert();
    client.send({ payload: { case: "alert", value: alert } });
    await client.waitFor(isCase("alertAck"));
    const outcome = (await h.controller.actions.request({ agentId: "web-1", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(outcome.detail);
    expect(outcome.delivered).to.equal(true);
    expect(outcome.action.state).to.equal("sent");
    const message = await client.waitFor(isCase("responseAction"));
    if (message.payload.case !== "responseAction") throw new Error("unreachable");
    const action = message.payload.value;
    expect(action).to.include({ actionId: outcome.action.actionId, alertId: alert.id, answer: Answer.BLOCK_IP });
    expect(action.target?.target).to.deep.equal({ case: "ip", value: "198.51.100.7" });
    expect(action.requestedBy?.telegramUserId).to.equal(1001n);

    const second = (await h.controller.actions.request({ agentId: "web-1", alertId: alert.id, answer: Answer.ALLOW, operator: create(OperatorSchema, testOperator) }));
    expect(second.ok).to.equal(false);
    if (second.ok) return;
    expect(second.reason).to.equal("already_answered");
    expect(second.existing?.actionId).to.equal(outcome.action.actionId);
  });

  it("queues an action for an offline agent and delivers it when the agent connects", async () => {
    const certs = await h.pki.issueAgent("db-1");
    const first = await connectAs("db-1", certs);
    const alert = sshAlert();
    first.send({ payload: { case: "alert", value: alert } });
    await first.waitFor(isCase("alertAck"));
    first.end();
    await first.ended;
    for (let i = 0; i < 50 && h.controller.onlineAgents().length > 0; i += 1) await new Promise((r) => setTimeout(r, 20));

    const outcome = (await h.controller.actions.request({ agentId: "db-1", alertId: alert.id, answer: Answer.CLOSE_SESSION, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(outcome.detail);
    expect(outcome.delivered).to.equal(false);
    expect((await h.controller.store.getAction(outcome.action.actionId))!.state).to.equal("pending");

    const again = await connectAs("db-1", certs);
    const message = await again.waitFor(isCase("responseAction"));
    if (message.payload.case !== "responseAction") throw new Error("unreachable");
    expect(message.payload.value.actionId).to.equal(outcome.action.actionId);
    const session = message.payload.value.target?.target;
    expect(session?.case === "session" && session.value).to.include({ sshdPid: 4242, sourceIp: "198.51.100.7", sourcePort: 51234, user: "root" });
    expect((await h.controller.store.getAction(outcome.action.actionId))!.state).to.equal("sent");
  });

  it("records a result once, acks it every time, and stops resending the action", async () => {
    const certs = await h.pki.issueAgent("web-2");
    const client = await connectAs("web-2", certs);
    const alert = sshAlert();
    client.send({ payload: { case: "alert", value: alert } });
    await client.waitFor(isCase("alertAck"));
    const outcome = (await h.controller.actions.request({ agentId: "web-2", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(outcome.detail);
    const actionId = outcome.action.actionId;
    await client.waitFor(isCase("responseAction"));

    const result = (status: ResultStatus, detail: string) => ({ payload: { case: "actionResult" as const, value: { actionId, status, detail, finishedAt: timestampFromMs(Date.now()) } } });
    client.send(result(ResultStatus.DONE, "198.51.100.7 blocked for 24h"));
    client.send(result(ResultStatus.FAILED, "a later duplicate"));
    for (let i = 0; i < 100 && client.received.filter(isCase("resultAck")).length < 2; i += 1) await new Promise((r) => setTimeout(r, 20));
    const acks = client.received.filter(isCase("resultAck"));
    expect(acks).to.have.length(2);
    for (const ack of acks) expect(ack.payload.value).to.include({ actionId });
    const stored = (await h.controller.store.getAction(actionId))!;
    expect(stored).to.include({ state: "done", detail: "198.51.100.7 blocked for 24h", resultStatus: ResultStatus.DONE });
    expect(stored.finishedAt).to.be.instanceOf(Date);

    client.end();
    await client.ended;
    const again = await connectAs("web-2", certs);
    await new Promise((r) => setTimeout(r, 200));
    expect(again.received.filter(isCase("responseAction"))).to.have.length(0);
  });

  it("does not resend an action listed in Hello.finished_action_ids, and does once the id is no longer listed", async () => {
    const certs = await h.pki.issueAgent("web-3");
    const client = await connectAs("web-3", certs);
    const alert = sshAlert();
    client.send({ payload: { case: "alert", value: alert } });
    await client.waitFor(isCase("alertAck"));
    client.end();
    await client.ended;
    for (let i = 0; i < 50 && h.controller.onlineAgents().length > 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    const outcome = (await h.controller.actions.request({ agentId: "web-3", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(outcome.detail);

    const holding = await connectAs("web-3", certs, [outcome.action.actionId]);
    await new Promise((r) => setTimeout(r, 200));
    expect(holding.received.filter(isCase("responseAction"))).to.have.length(0);
    holding.end();
    await holding.ended;
    for (let i = 0; i < 50 && h.controller.onlineAgents().length > 0; i += 1) await new Promise((r) => setTimeout(r, 20));

    const plain = await connectAs("web-3", certs);
    const message = await plain.waitFor(isCase("responseAction"));
    expect(message.payload.value).to.include({ actionId: outcome.action.actionId });
  });

  it("keeps alerts and queued actions across a controller restart", async () => {
    const certs = await h.pki.issueAgent("web-4");
    const client = await connectAs("web-4", certs);
    const alert = sshAlert();
    client.send({ payload: { case: "alert", value: alert } });
    await client.waitFor(isCase("alertAck"));
    client.close();
    for (let i = 0; i < 50 && h.controller.onlineAgents().length > 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    const outcome = (await h.controller.actions.request({ agentId: "web-4", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(outcome.detail);
    await h.restart();
    expect((await h.controller.store.getAlert(alert.id))!.alert.id).to.equal(alert.id);
    const again = await connectAs("web-4", certs);
    const message = await again.waitFor(isCase("responseAction"));
    expect(message.payload.value).to.include({ actionId: outcome.action.actionId });
    expect((await h.controller.store.getAgent("web-4"))).to.include({ online: true, connects: 2 });
  });

  it("refuses to start on a port already in use, naming it, and leaves the store closed", async () => {
    const { startController } = await import("../controller/controller.js");
    const config = { ...h.config, listen: { host: "127.0.0.1", port: h.controller.port }, store: { path: `${h.dir}/second.db` } };
    try {
      await startController({ config, logger: h.log.logger });
      expect.fail("expected the second controller to fail");
    } catch (err) {
      expect((err as Error).message).to.include(`cannot listen for agents on 127.0.0.1:${h.controller.port}`);
    }
    const { openSqliteStore } = await import("../controller/store/sqlite-store.js");
    const reopened = openSqliteStore(`${h.dir}/second.db`);
    await reopened.close();
  });
});
