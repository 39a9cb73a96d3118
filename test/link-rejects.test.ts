import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { create, toBinary } from "@bufbuild/protobuf";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { DEAD_LETTER_FILE } from "../agent/outbox/dead-letter.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { AgentMessageSchema, AlertRejectReason, ResultRejectReason, type AlertReject, type ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { Answer, OperatorSchema } from "../gen/secarc/v1/action_pb.js";
import { type AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import { respondersFor, createRecordingResponder } from "./fixtures/agent/recording-responder.js";
import { eventually, testAgentConfig } from "./support/agent-process.js";
import { sshAlert, startControllerHarness, testOperator, type ControllerHarness } from "./support/controller-harness.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { givenResponders } from "./support/given-responders.js";

const isCase = (c: ControllerMessage["payload"]["case"]) => (m: ControllerMessage) => m.payload.case === c;
const rejectsOf = (client: RawAgentClient): AlertReject[] => client.received.filter(isCase("alertReject")).map((m) => m.payload.value as AlertReject);

/** An alert message whose summary is not valid UTF-8 (the byte 0xff), as a hostile or buggy agent could send. */
function invalidUtf8Alert(): { id: string; bytes: Uint8Array } {
  const alert = sshAlert();
  alert.summary = "POISON";
  const bytes = toBinary(AgentMessageSchema, create(AgentMessageSchema, { payload: { case: "alert", value: alert } }));
  const at = Buffer.from(bytes).indexOf(Buffer.from("POISON"));
  bytes[at] = 0xff;
  return { id: alert.id, bytes };
}

/**
 * Issue 11 finding 5: a message the controller cannot accept is rejected by
 * id (AlertReject / ResultReject), logged and counted; the stream goes on.
 * Real controller, real mutual TLS on loopback, real SQLite.
 */
describe("link: per-message rejection, never a stuck stream", function () {
  this.timeout(60_000);
  let h: ControllerHarness;
  const clients: RawAgentClient[] = [];
  const agents: RunningAgent[] = [];

  beforeEach(async () => {
    h = await startControllerHarness({ metrics: { listen: { host: "127.0.0.1", port: 0 } } });
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.close();
    for (const client of clients.splice(0)) client.close();
    await h.cleanup();
  });

  const raw = async (name: string): Promise<RawAgentClient> => {
    const client = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...(await h.pki.issueAgent(name)) });
    clients.push(client);
    client.hello({ agentId: name });
    await client.waitFor(isCase("welcome"));
    return client;
  };

  it("rejects an undecodable alert and every invalid one by id, stores none, and keeps acking the stream's good alerts", async () => {
    const owner = await raw("owner");
    const owned = sshAlert();
    owner.send({ payload: { case: "alert", value: owned } });
    await owner.waitFor(isCase("alertAck"));

    const client = await raw("poisoned");
    const poison = invalidUtf8Alert();
    client.sendRaw(poison.bytes);
    const severity0 = sshAlert();
    severity0.severity = Severity.UNSPECIFIED;
    const severity9 = sshAlert();
    severity9.severity = 9 as Severity;
    const state7 = sshAlert();
    state7.state = 7 as AlertState;
    const revision0 = sshAlert({ revision: 0 });
    const noDetectedAt = sshAlert();
    noDetectedAt.detectedAt = undefined;
    const noSubject = sshAlert();
    noSubject.subject = { case: undefined };
    const foreign = sshAlert({ id: owned.id, revision: 2 });
    const bad = [severity0, severity9, state7, revision0, noDetectedAt, noSubject, foreign];
    for (const alert of bad) client.send({ payload: { case: "alert", value: alert } });
    const good = sshAlert();
    client.send({ payload: { case: "alert", value: good } });

    await client.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === good.id);
    await eventually("all 8 rejects", () => rejectsOf(client).length === 8);
    const byId = new Map(rejectsOf(client).map((r) => [r.alertId, r]));
    expect(byId.get(poison.id)).to.include({ reason: AlertRejectReason.MALFORMED, revision: 1 });
    expect(byId.get(poison.id)!.detail).to.match(/utf-8/i);
    for (const alert of bad.slice(0, 6)) expect(byId.get(alert.id)?.reason, alert.id).to.equal(AlertRejectReason.INVALID);
    expect(byId.get(severity9.id)!.detail).to.include("severity 9");
    expect(byId.get(state7.id)!.detail).to.include("state 7");
    expect(byId.get(revision0.id)!.detail).to.include("revision 0");
    expect(byId.get(noDetectedAt.id)!.detail).to.include("detected_at");
    expect(byId.get(noSubject.id)!.detail).to.include("subject");
    expect(byId.get(owned.id)).to.include({ reason: AlertRejectReason.FOREIGN_ID, revision: 2 });

    // Nothing of the poisoned agent's bad alerts is stored; the owner's alert is untouched.
    for (const alert of bad.slice(0, 6)) expect((await h.controller.store.getAlert(alert.id)), alert.id).to.equal(undefined);
    expect((await h.controller.store.getAlert(poison.id))).to.equal(undefined);
    expect((await h.controller.store.getAlert(owned.id))).to.include({ agentId: "owner" });
    expect((await h.controller.store.getAlert(owned.id))!.alert.revision).to.equal(1);
    expect((await h.controller.store.getAlert(good.id))).to.include({ agentId: "poisoned" });
    expect(h.controller.onlineAgents()).to.include("poisoned");
    expect(h.log.matching("alert rejected (malformed)")).to.have.length(1);
    const audit = (await h.controller.store.listAudit(20)).filter((row) => row.event === "link.alert_rejected");
    expect(audit.map((row) => row.actor)).to.deep.equal(["agent:poisoned"]);

    const metrics = await (await fetch(`http://127.0.0.1:${h.controller.metricsPort}/metrics`)).text();
    expect(metrics).to.match(/secarc_link_rejected_total\{what="alert",reason="malformed"\} 1/);
    expect(metrics).to.match(/secarc_link_rejected_total\{what="alert",reason="invalid"\} 6/);
    expect(metrics).to.match(/secarc_link_rejected_total\{what="alert",reason="foreign_id"\} 1/);
  });

  it("rejects a result for another agent's action and one that does not decode, audits both, and the stream goes on", async () => {
    await raw("victim");
    const actionId = "act-of-victim";
    await h.controller.store.createAction({ actionId, agentId: "victim", alertId: undefined, answer: Answer.UNBLOCK_IP, operator: create(OperatorSchema, testOperator), requestedAt: new Date(), options: undefined, target: undefined });

    const thief = await raw("thief");
    thief.send({ payload: { case: "actionResult", value: { actionId, status: 1, detail: "done" } } });
    const garbled = toBinary(AgentMessageSchema, create(AgentMessageSchema, { payload: { case: "actionResult", value: { actionId: "act-x", status: 1, detail: "BROKEN" } } }));
    garbled[Buffer.from(garbled).indexOf(Buffer.from("BROKEN"))] = 0xfe;
    thief.sendRaw(garbled);
    await eventually("two result rejects", () => thief.received.filter(isCase("resultReject")).length === 2);
    const rejects = thief.received.filter(isCase("resultReject")).map((m) => m.payload.value as { actionId: string; reason: ResultRejectReason });
    expect(rejects.map((r) => [r.actionId, r.reason])).to.deep.equal([
      [actionId, ResultRejectReason.FOREIGN_ACTION],
      ["act-x", ResultRejectReason.MALFORMED],
    ]);
    expect((await h.controller.store.getAction(actionId))!.state).to.equal("pending");
    const audit = (await h.controller.store.listAudit(20)).filter((row) => row.event === "link.result_rejected");
    expect(audit).to.have.length(2);
    expect(audit.every((row) => row.actor === "agent:thief" && row.detail.startsWith("suspicious"))).to.equal(true);
    const fine = sshAlert();
    thief.send({ payload: { case: "alert", value: fine } });
    await thief.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === fine.id);
  });

  it("a poison alert in an agent's outbox goes to the dead-letter file and the agent keeps delivering its other alerts", async () => {
    // An alert of another agent's id and one with severity 9 wait in the outbox between good ones.
    const owner = await raw("first-owner");
    const owned = sshAlert();
    owner.send({ payload: { case: "alert", value: owned } });
    await owner.waitFor(isCase("alertAck"));

    const certs = await h.pki.issueAgent("outbox-agent");
    const stateDir = join(h.dir, "outbox-agent-state");
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: h.pki.ca, cert: certs.cert, key: certs.key, stateDir, port: 1 }), "test");
    const offline = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    const before = sshAlert();
    const severity9 = sshAlert();
    severity9.severity = 9 as Severity;
    const stolen = sshAlert({ id: owned.id, revision: 5 });
    const after = sshAlert();
    for (const alert of [before, severity9, stolen, after]) offline.emit(alert);
    offline.flush();
    expect(offline.outboxDepth()).to.equal(4);
    await offline.close();

    const agent = await startAgent({ config: { ...config, controller: { ...config.controller, address: [`127.0.0.1:${h.controller.port}`] } }, logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    agents.push(agent);
    await agent.waitConnected(10_000);
    await eventually("the outbox drains", () => agent.outboxDepth() === 0);
    expect((await h.controller.store.getAlert(before.id))).to.include({ agentId: "outbox-agent" });
    expect((await h.controller.store.getAlert(after.id))).to.include({ agentId: "outbox-agent" });
    expect((await h.controller.store.getAlert(severity9.id))).to.equal(undefined);
    expect((await h.controller.store.getAlert(owned.id))!.agentId).to.equal("first-owner");
    expect(agent.rejections()).to.deep.equal({ alerts: 2, results: 0 });

    const deadLetters = readFileSync(join(stateDir, DEAD_LETTER_FILE), "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(deadLetters.map((entry) => [entry.id, entry.reason])).to.have.deep.members([
      [severity9.id, "invalid"],
      [owned.id, "foreign_id"],
    ]);
    expect((deadLetters.find((entry) => entry.id === severity9.id)!.alert as { summary: string }).summary).to.equal(severity9.summary);

    // Same stream, later alerts still flow; a restart sends nothing rejected again.
    const later = sshAlert();
    agent.emit(later);
    await eventually("the later alert is stored", async () => (await h.controller.store.getAlert(later.id)) !== undefined);
    expect(h.log.matching("stream refused")).to.deep.equal([]);
    expect(existsSync(join(stateDir, DEAD_LETTER_FILE))).to.equal(true);
  });
});
