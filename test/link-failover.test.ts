import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Database from "better-sqlite3";
import { create } from "@bufbuild/protobuf";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfig } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { Answer, OperatorSchema } from "../gen/secarc/v1/action_pb.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { captureLog, sshAlert, testControllerConfig, testOperator } from "./support/controller-harness.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { givenResponders } from "./support/given-responders.js";
import { createTestPki, type TestPki } from "./support/pki.js";

/** How many rows the controller's SQLite file holds for each of `alertIds` (read straight from the file). */
function storedCounts(storePath: string, alertIds: string[]): number[] {
  const db = new Database(storePath, { readonly: true, fileMustExist: true });
  try {
    const count = db.prepare("SELECT COUNT(*) AS n FROM alerts WHERE alert_id = ?");
    return alertIds.map((id) => (count.get(id) as { n: number }).n);
  } finally {
    db.close();
  }
}

/**
 * Issue 15 items 2 and 7, agent side: an agent with a list of controller
 * endpoints (real controllers on loopback, real mTLS, each with its own
 * SQLite store) moves to another endpoint when the one it is on dies, and
 * reconnects when a controller ends its stream at the maximum age —
 * nothing lost, nothing doubled.
 */
describe("link failover: controller endpoints and stream age", function () {
  this.timeout(90_000);
  let pki: TestPki;
  let dir: string;
  let agent: RunningAgent | undefined;
  const processes: ControllerProcess[] = [];
  let controller: RunningController | undefined;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-link-failover-"));
  });
  afterEach(async () => {
    await agent?.close();
    await controller?.close();
    for (const running of processes.splice(0)) {
      running.kill("SIGKILL");
      await running.stopped;
    }
    agent = undefined;
    controller = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function agentConfig(name: string, endpoints: string[]): Promise<AgentConfig> {
    const certs = await pki.issueAgent(name);
    const input = testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, `${name}-state`), port: 0 });
    return parseConfig(agentConfigSchema, { ...input, controller: { address: endpoints, serverName: "localhost" } }, "test");
  }

  async function replica(name: string): Promise<{ process: ControllerProcess; storePath: string; address: string }> {
    const port = await freeLoopbackPort();
    const storePath = join(dir, `${name}.db`);
    const running = await startControllerProcess({
      config: { listen: { host: "127.0.0.1", port }, tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key }, store: { path: storePath }, log: { level: "warn" } },
    });
    processes.push(running);
    return { process: running, storePath, address: `127.0.0.1:${port}` };
  }

  it("kill -9 of the controller the agent is on: it moves to the other endpoint in bounded time and delivers its unacked alerts there", async () => {
    const replicas = [await replica("a"), await replica("b")];
    agent = await startAgent({ config: await agentConfig("failover-1", replicas.map((r) => r.address)), logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    await agent.waitConnected(15_000);
    const on = replicas.find((r) => r.address === agent!.controllerEndpoint());
    const other = replicas.find((r) => r !== on)!;
    expect(on, `connected to one of the endpoints, not ${agent.controllerEndpoint()}`).to.not.equal(undefined);

    const before = [sshAlert(), sshAlert()];
    for (const alert of before) agent.emit(alert);
    await eventually("the first alerts are acked by the controller the agent is on", () => agent!.outboxDepth() === 0, 15_000);
    expect(storedCounts(on!.storePath, before.map((a) => a.id))).to.deep.equal([1, 1]);

    // Frozen, the controller takes the alerts into its socket and acks nothing; then it dies.
    on!.process.kill("SIGSTOP");
    const unacked = Array.from({ length: 20 }, () => sshAlert());
    for (const alert of unacked) agent.emit(alert);
    agent.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(agent.outboxDepth(), "unacked at the kill").to.equal(unacked.length);
    on!.process.kill("SIGKILL");
    const killedAt = Date.now();
    expect(await on!.process.stopped, "killed by a signal").to.equal(null);

    await eventually("the agent is on the other endpoint", () => agent!.controllerEndpoint() === other.address, 20_000);
    const movedMs = Date.now() - killedAt;
    await eventually("the unacked alerts are acked by the other controller", () => agent!.outboxDepth() === 0, 20_000);
    expect(storedCounts(other.storePath, unacked.map((a) => a.id)), "each unacked alert stored once on the survivor").to.deep.equal(unacked.map(() => 1));
    expect(movedMs, "reconnected to the survivor within 15 s of the kill").to.be.below(15_000);
  });

  it("after a replica comes back, streams at their maximum age spread the agents over both again, and no alert is lost", async () => {
    const ports = [await freeLoopbackPort(), await freeLoopbackPort()];
    const endpoints = ports.map((port) => `127.0.0.1:${port}`);
    const configOf = (i: number) => testControllerConfig(pki, dir, { listen: { host: "127.0.0.1", port: ports[i]! }, store: { path: join(dir, `replica-${i}.db`) }, link: { maxStreamAge: "3s", maxStreamAgeJitter: "1s" }, log: { level: "warn" } });
    const first = await startController({ config: configOf(0), logger: silentLogger() });
    controller = first;
    const fleet: RunningAgent[] = [];
    const emitted: string[] = [];
    try {
      for (let i = 0; i < 16; i += 1) {
        fleet.push(await startAgent({ config: await agentConfig(`spread-${i}`, endpoints), logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) }));
      }
      await eventually("all 16 agents on the one replica up", () => first.onlineAgents().length === 16, 30_000);
      const second = await startController({ config: configOf(1), logger: silentLogger() });
      try {
        const ticker = setInterval(() => {
          for (const agent of fleet) {
            const alert = sshAlert();
            agent.emit(alert);
            emitted.push(alert.id);
          }
        }, 250);
        try {
          await eventually("both replicas hold at least 3 of the 16", () => first.onlineAgents().length >= 3 && second.onlineAgents().length >= 3, 40_000);
        } finally {
          clearInterval(ticker);
        }
        await eventually("every alert acked", () => fleet.every((agent) => agent.outboxDepth() === 0), 30_000);
        // Separate stores here: an alert whose ack was cut by a stream end may be in both; with one shared store it is stored once.
        const onFirst = storedCounts(configOf(0).store.path, emitted);
        const onSecond = storedCounts(configOf(1).store.path, emitted);
        expect(emitted.filter((_, i) => onFirst[i]! + onSecond[i]! === 0), "alerts stored nowhere").to.deep.equal([]);
        expect(onSecond.filter((n) => n > 0).length, "the replica that came back took alerts").to.be.above(0);
      } finally {
        for (const agent of fleet.splice(0)) await agent.close();
        await second.close();
      }
    } finally {
      for (const agent of fleet) await agent.close();
    }
  });

  it("a stream at link.maxStreamAge is ended with the rebalance trailer; the agent reconnects at once, and no alert or action is lost or doubled", async () => {
    const controllerLog = captureLog();
    const config = testControllerConfig(pki, dir, { link: { maxStreamAge: "2s", maxStreamAgeJitter: "200ms" } });
    controller = await startController({ config, logger: controllerLog.logger });
    const agentLog = captureLog();
    const responder = createRecordingResponder();
    agent = await startAgent({
      config: await agentConfig("rebalance-1", [`127.0.0.1:${controller.port}`]),
      logger: agentLog.logger,
      detectors: () => [],
      responders: givenResponders(respondersFor(responder)),
    });
    await agent.waitConnected(15_000);

    // Alerts every 100 ms and an action now and then, across at least two stream ends.
    const alerts = [];
    const actionIds: string[] = [];
    const started = Date.now();
    while (Date.now() - started < 6_500 || controllerLog.matching("ending a stream at its maximum age").length < 2) {
      if (Date.now() - started > 30_000) throw new Error("the controller ended no stream for its age within 30 s");
      const alert = sshAlert();
      agent.emit(alert);
      alerts.push(alert);
      if (alerts.length % 20 === 5) {
        await eventually("the alert to answer is stored", () => storedCounts(config.store.path, [alert.id])[0] === 1, 10_000);
        const requested = await controller.actions.request({ agentId: "rebalance-1", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) });
        expect(requested.ok, requested.ok ? "" : requested.detail).to.equal(true);
        if (requested.ok) actionIds.push(requested.action.actionId);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await eventually("every alert and result is acked", () => agent!.outboxDepth() === 0 && agent!.isConnected(), 20_000);
    await eventually("every action has run", () => new Set(responder.executions.map((e) => e.actionId)).size === actionIds.length, 20_000);

    const ends = controllerLog.matching("ending a stream at its maximum age");
    expect(ends.length, "streams ended for their age").to.be.at.least(2);
    expect(agentLog.matching("the controller ended the stream to rebalance").length, "the agent saw each as a rebalance").to.be.at.least(2);
    expect(agentLog.matching("stream to the controller ended"), "no stream end counted as a failure").to.deep.equal([]);
    expect(storedCounts(config.store.path, alerts.map((a) => a.id)), "each alert stored once").to.deep.equal(alerts.map(() => 1));
    expect(actionIds.length).to.be.at.least(2);
    const runs = responder.executions.map((e) => e.actionId).sort();
    expect(runs, "each action run exactly once").to.deep.equal([...actionIds].sort());
  });
});
