import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { Answer, OperatorSchema, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { eventually, freeLoopbackPort, readExecutions, startAgentProcess, testAgentConfig, type AgentProcess, type AgentProcessOptions } from "./support/agent-process.js";
import { testControllerConfig, testOperator } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";

/**
 * Issue 3 acceptance 4 and 5: the agent runs in a child process
 * (test/fixtures/agent/run-agent.ts, recording every execution in a file)
 * and is killed with SIGKILL where the case says; the controller runs in
 * this process on its real SQLite file and is stopped to cut the stream.
 */
describe("link across crashes: agent process ↔ controller", function () {
  this.timeout(90_000);
  let pki: TestPki;
  let dir: string;
  let port: number;
  let controller: RunningController | undefined;
  const processes: AgentProcess[] = [];

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-link-crash-"));
    port = await freeLoopbackPort();
  });
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.kill();
    await controller?.close();
    controller = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function startCtl(): Promise<RunningController> {
    controller = await startController({ config: testControllerConfig(pki, dir, { listen: { host: "127.0.0.1", port } }), logger: silentLogger() });
    return controller;
  }
  async function stopCtl(): Promise<void> {
    await controller?.close();
    controller = undefined;
  }

  async function agentOptions(name: string): Promise<Omit<AgentProcessOptions, "emitCount" | "crash" | "executeDelayMs" | "bootId">> {
    const certs = await pki.issueAgent(name);
    return {
      config: testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, `${name}-state`), port }),
      dir,
      recordFile: join(dir, `${name}-executions.jsonl`),
    };
  }
  async function spawnAgent(options: AgentProcessOptions): Promise<AgentProcess> {
    const p = await startAgentProcess(options);
    processes.push(p);
    return p;
  }

  /** Starts an agent that emits one alert and waits until the controller stored it; returns the alert id. */
  async function agentWithStoredAlert(options: AgentProcessOptions, running: RunningController): Promise<{ agent: AgentProcess; alertId: string }> {
    const agent = await spawnAgent({ ...options, emitCount: 1 });
    const alertId = (await agent.waitFor("emitted", 10_000)).ids![0]!;
    await eventually("the alert is stored", async () => (await running.store.getAlert(alertId)) !== undefined, 15_000);
    return { agent, alertId };
  }

  it("4. stream cut after execution, before the result arrives: the stored result is reported, not executed again, recorded once", async () => {
    const running = await startCtl();
    const base = await agentOptions("crash-4");
    const { agent, alertId } = await agentWithStoredAlert({ ...base, executeDelayMs: 1_000 }, running);
    await agent.waitFor("connected", 10_000);

    const outcome = (await running.actions.request({ agentId: "crash-4", alertId, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(`request refused: ${outcome.detail}`);
    expect(outcome.delivered).to.equal(true);
    const actionId = outcome.action.actionId;
    await eventually("the action is executed", () => readExecutions(base.recordFile).length === 1);
    await stopCtl();
    await agent.waitFor("disconnected", 10_000);
    // The responder finishes while the controller is away: the result waits in the outbox.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const again = await startCtl();
    const recorded = countActionEvents(again, actionId);
    expect((await again.store.getAction(actionId))?.resultStatus).to.equal(undefined);
    await eventually("the result is stored", async () => (await again.store.getAction(actionId))?.resultStatus !== undefined, 15_000);
    await agent.waitFor("connected", 10_000, 2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stored = (await again.store.getAction(actionId))!;
    expect(stored.resultStatus).to.equal(ResultStatus.DONE);
    expect(stored.detail).to.equal("recorded BLOCK_IP");
    expect(readExecutions(base.recordFile).map((e) => e.actionId)).to.deep.equal([actionId]);
    expect((await again.store.listUnfinishedActions("crash-4"))).to.have.length(0);
    expect(recorded(), "results recorded by the controller").to.equal(1);
  });

  it("4b. stream cut and restored while the action still runs: the redelivered action waits for the running one, executed once", async () => {
    const running = await startCtl();
    const base = await agentOptions("crash-4b");
    const { agent, alertId } = await agentWithStoredAlert({ ...base, executeDelayMs: 4_000 }, running);
    await agent.waitFor("connected", 10_000);
    const outcome = (await running.actions.request({ agentId: "crash-4b", alertId, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(`request refused: ${outcome.detail}`);
    const actionId = outcome.action.actionId;
    await eventually("the action is executed", () => readExecutions(base.recordFile).length === 1);
    await stopCtl();
    const again = await startCtl();
    const recorded = countActionEvents(again, actionId);
    await agent.waitFor("connected", 10_000, 2);
    expect((await again.store.getAction(actionId))?.resultStatus, "redelivered before the result exists").to.equal(undefined);
    await eventually("the result is stored", async () => (await again.store.getAction(actionId))?.resultStatus !== undefined, 15_000);
    const stored = (await again.store.getAction(actionId))!;
    expect(stored.resultStatus).to.equal(ResultStatus.DONE);
    expect(stored.detail).to.equal("recorded BLOCK_IP");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(readExecutions(base.recordFile)).to.have.length(1);
    expect(recorded(), "results recorded by the controller").to.equal(1);
  });

  it("5a. agent SIGKILLed with unacknowledged alerts: they are delivered after it restarts, each stored once", async () => {
    const base = await agentOptions("crash-5a");
    const first = await spawnAgent({ ...base, emitCount: 3 });
    const ids = (await first.waitFor("emitted", 10_000)).ids!;
    await first.kill();

    const running = await startCtl();
    const second = await spawnAgent(base);
    await second.waitFor("connected", 15_000);
    await eventually("all three alerts are stored", async () => (await Promise.all(ids.map((id) => running.store.getAlert(id)))).every((record) => record !== undefined), 15_000);
    const stored = (await running.store.listOpenAlerts(100)).filter((r) => r.agentId === "crash-5a");
    expect(stored.map((r) => r.alertId).sort()).to.deep.equal([...ids].sort());
  });

  it("5b. agent SIGKILLed while executing: not executed again after restart; reported as outcome unknown", async () => {
    const running = await startCtl();
    const base = await agentOptions("crash-5b");
    const { agent, alertId } = await agentWithStoredAlert({ ...base, crash: "after-execute" }, running);
    await agent.waitFor("connected", 10_000);
    const outcome = (await running.actions.request({ agentId: "crash-5b", alertId, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(`request refused: ${outcome.detail}`);
    const exit = await agent.exited;
    expect(exit.signal).to.equal("SIGKILL");
    expect(readExecutions(base.recordFile)).to.have.length(1);

    const restarted = await spawnAgent(base);
    await restarted.waitFor("connected", 15_000);
    await eventually("the result is stored", async () => (await running.store.getAction(outcome.action.actionId))?.resultStatus !== undefined, 15_000);
    const stored = (await running.store.getAction(outcome.action.actionId))!;
    expect(stored.resultStatus).to.equal(ResultStatus.FAILED);
    expect(stored.detail).to.match(/^outcome unknown: agent restarted during execution/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(readExecutions(base.recordFile)).to.have.length(1);
  });

  it("5c. a reboot begun before the agent died is reported done after the host booted again, never run twice", async () => {
    const running = await startCtl();
    const base = await agentOptions("crash-5c");
    const first = await spawnAgent({ ...base, crash: "after-execute", bootId: "boot-before" });
    await first.waitFor("connected", 15_000);
    const outcome = (await running.actions.request({ agentId: "crash-5c", alertId: undefined, answer: Answer.REBOOT, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(`request refused: ${outcome.detail}`);
    await first.exited;

    const afterBoot = await spawnAgent({ ...base, bootId: "boot-after" });
    await afterBoot.waitFor("connected", 15_000);
    await eventually("the result is stored", async () => (await running.store.getAction(outcome.action.actionId))?.resultStatus !== undefined, 15_000);
    const stored = (await running.store.getAction(outcome.action.actionId))!;
    expect(stored.resultStatus).to.equal(ResultStatus.DONE);
    expect(stored.detail).to.equal("rebooted");
    expect(readExecutions(base.recordFile).map((e) => e.answer)).to.deep.equal(["REBOOT"]);
  });

  it("5d. agent SIGKILLed after storing a result it could not send: the result is delivered after restart, executed once", async () => {
    const running = await startCtl();
    const base = await agentOptions("crash-5d");
    const { agent, alertId } = await agentWithStoredAlert({ ...base, executeDelayMs: 800 }, running);
    await agent.waitFor("connected", 10_000);
    const outcome = (await running.actions.request({ agentId: "crash-5d", alertId, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(`request refused: ${outcome.detail}`);
    await eventually("the action is executed", () => readExecutions(base.recordFile).length === 1);
    await stopCtl();
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    await agent.kill();

    const again = await startCtl();
    const recorded = countActionEvents(again, outcome.action.actionId);
    const restarted = await spawnAgent(base);
    await restarted.waitFor("connected", 15_000);
    await eventually("the result is stored", async () => (await again.store.getAction(outcome.action.actionId))?.resultStatus !== undefined, 15_000);
    expect((await again.store.getAction(outcome.action.actionId))!.resultStatus).to.equal(ResultStatus.DONE);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(readExecutions(base.recordFile)).to.have.length(1);
    expect(recorded(), "results recorded by the controller").to.equal(1);
  });
});

/** Counts the controller's "action" events for one action from now on (one per recorded result). */
function countActionEvents(running: RunningController, actionId: string): () => number {
  let count = 0;
  running.events.subscribe((event) => {
    if (event.type === "action" && event.actionId === actionId) count += 1;
  });
  return () => count;
}
