import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfig } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { create } from "@bufbuild/protobuf";
import { Answer, OperatorSchema, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState } from "../gen/secarc/v1/alert_pb.js";
import type { Detector } from "../agent/detectors/detector.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { sshAlert, testControllerConfig, testOperator } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { givenResponders } from "./support/given-responders.js";

/**
 * Issue 3 acceptance 1 and 3, agent and controller in this process over
 * real mutual TLS on loopback, each with its real SQLite file.
 */
describe("link delivery: agent ↔ controller", function () {
  this.timeout(30_000);
  let pki: TestPki;
  let dir: string;
  let controller: RunningController | undefined;
  const agents: RunningAgent[] = [];

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-link-delivery-"));
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.close();
    await controller?.close();
    controller = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function agentConfig(name: string, port: number): Promise<AgentConfig> {
    const certs = await pki.issueAgent(name);
    return parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, `${name}-state`), port }), "test");
  }

  async function runAgent(config: AgentConfig, responder = createRecordingResponder()): Promise<RunningAgent> {
    const agent = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(responder)) });
    agents.push(agent);
    return agent;
  }

  async function runController(port: number): Promise<RunningController> {
    controller = await startController({ config: testControllerConfig(pki, dir, { listen: { host: "127.0.0.1", port } }), logger: silentLogger() });
    return controller;
  }

  async function stopAgent(agent: RunningAgent): Promise<void> {
    agents.splice(agents.indexOf(agent), 1);
    await agent.close();
  }

  it("1. delivers an alert emitted while the controller is down once it starts: exactly one stored", async () => {
    const port = await freeLoopbackPort();
    const agent = await runAgent(await agentConfig("delivery-1", port));
    const alert = sshAlert();
    agent.emit(alert);
    expect(agent.outboxDepth()).to.equal(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(agent.isConnected()).to.equal(false);

    const running = await runController(port);
    await agent.waitConnected(10_000);
    await eventually("the alert is acknowledged", () => agent.outboxDepth() === 0);
    const stored = (await running.store.listOpenAlerts(100)).filter((r) => r.agentId === "delivery-1");
    expect(stored.map((r) => r.alertId)).to.deep.equal([alert.id]);
    expect(stored[0]!.alert.summary).to.equal(alert.summary);
    expect(running.onlineAgents()).to.include("delivery-1");
  });

  it("1b. a later revision emitted while the controller is down replaces the pending one", async () => {
    const port = await freeLoopbackPort();
    const agent = await runAgent(await agentConfig("delivery-1b", port));
    const alert = sshAlert();
    agent.emit(alert);
    agent.flush();
    agent.emit(sshAlert({ id: alert.id, revision: 2, state: AlertState.RESOLVED }));
    agent.emit(sshAlert({ id: alert.id, revision: 1 }));
    agent.flush();
    expect(agent.outboxDepth()).to.equal(1);
    const running = await runController(port);
    await eventually("the revision is acknowledged", () => agent.outboxDepth() === 0);
    const record = (await running.store.getAlert(alert.id))!;
    expect(record.alert.revision).to.equal(2);
    expect(record.alert.state).to.equal(AlertState.RESOLVED);
  });

  it("1c. delivers a backlog of 1,000 alerts built while the controller was down, each stored once", async () => {
    const port = await freeLoopbackPort();
    const agent = await runAgent(await agentConfig("delivery-1c", port));
    const ids = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const alert = sshAlert();
      ids.add(alert.id);
      agent.emit(alert);
    }
    expect(agent.outboxDepth()).to.equal(1_000);
    const running = await runController(port);
    await eventually("the backlog is acknowledged", () => agent.outboxDepth() === 0, 30_000);
    const stored = (await running.store.listOpenAlerts(5_000)).filter((r) => r.agentId === "delivery-1c");
    expect(stored).to.have.length(1_000);
    expect(stored.every((r) => ids.has(r.alertId))).to.equal(true);
  });

  it("3. delivers an action requested while the agent is offline on reconnect, executed exactly once", async () => {
    const port = await freeLoopbackPort();
    const running = await runController(port);
    const config = await agentConfig("delivery-3", port);
    const first = await runAgent(config);
    const alert = sshAlert();
    first.emit(alert);
    await eventually("the alert is stored", () => first.outboxDepth() === 0);
    await stopAgent(first);
    await eventually("the controller sees the agent offline", () => !running.onlineAgents().includes("delivery-3"));

    const outcome = (await running.actions.request({ agentId: "delivery-3", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(`request refused: ${outcome.detail}`);
    expect(outcome.delivered).to.equal(false);
    const actionId = outcome.action.actionId;

    const responder = createRecordingResponder();
    const second = await runAgent(config, responder);
    await eventually("the result is stored", async () => (await running.store.getAction(actionId))?.resultStatus !== undefined);
    await eventually("the result is acknowledged", () => second.outboxDepth() === 0);
    expect(responder.executions.map((e) => [e.actionId, e.answer])).to.deep.equal([[actionId, "BLOCK_IP"]]);
    const stored = (await running.store.getAction(actionId))!;
    expect(stored.resultStatus).to.equal(ResultStatus.DONE);
    expect(stored.detail).to.equal("recorded BLOCK_IP");

    // Reconnecting again neither redelivers nor re-executes it.
    await stopAgent(second);
    const third = createRecordingResponder();
    const again = await runAgent(config, third);
    await again.waitConnected(10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(third.executions).to.have.length(0);
    expect((await running.store.listUnfinishedActions("delivery-3"))).to.have.length(0);
  });

  it("carries a detector's alerts through the supervisor to the controller, restarting the detector after a failure", async () => {
    const port = await freeLoopbackPort();
    const running = await runController(port);
    const certs = await pki.issueAgent("delivery-detector");
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "detector-state"), port }), "test");
    const emitted: string[] = [];
    let starts = 0;
    const detector: Detector = {
      name: "scripted",
      kinds: [AlertKind.SSH_SESSION],
      async start(context) {
        starts += 1;
        const alert = sshAlert();
        emitted.push(alert.id);
        context.emit(alert);
        if (starts === 1) setTimeout(() => context.onFailure(new Error("log file vanished")), 50);
      },
      async stop() {},
    };
    const agent = await startAgent({ config, logger: silentLogger(), detectors: () => [detector], responders: givenResponders(new Map()) });
    agents.push(agent);
    await eventually("the detector ran twice", () => starts === 2, 10_000);
    await eventually("both alerts are acknowledged", () => agent.outboxDepth() === 0);
    expect((await Promise.all(emitted.map((id) => running.store.getAlert(id)))).every((record) => record?.agentId === "delivery-detector")).to.equal(true);
    expect((await running.store.getAgent("delivery-detector"))?.detectors).to.deep.equal([AlertKind.SSH_SESSION]);
  });

  it("refuses an alert larger than link.maxMessageBytes at emit, keeping the outbox clean", async () => {
    const agent = await runAgent(await agentConfig("delivery-big", await freeLoopbackPort()));
    const big = sshAlert();
    big.summary = "x".repeat(1_100_000);
    expect(() => agent.emit(big)).to.throw(/above link.maxMessageBytes 1048576/);
    expect(agent.outboxDepth()).to.equal(0);
    const unnamed = sshAlert({ id: "" });
    expect(() => agent.emit(unnamed)).to.throw(/without id/);
  });

  it("refuses to start with an agentId other than the certificate's", async () => {
    const config = await agentConfig("delivery-id", await freeLoopbackPort());
    let error: unknown;
    await startAgent({ config: { ...config, agentId: "someone-else" }, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map()) }).catch((err) => (error = err));
    expect(String(error)).to.match(/differs from the certificate's identity "delivery-id"/);
  });
});
