import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import type { ControllerConfigInput } from "../controller/config.js";
import { startController, type RunningController } from "../controller/controller.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import type { FakeMessage } from "../testing/fake-bot-api.js";
import { Answer, type Operator } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, Severity } from "../gen/secarc/v1/alert_pb.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { useTelegramWorld } from "./support/telegram-world.js";
import { givenResponders } from "./support/given-responders.js";

const CHAT = 1001;
const OPERATOR = { id: 77, username: "op" };

/**
 * Issue 8, acceptance 4: the no-answer policy with the real parts — the
 * controller (SQLite, mutual TLS on loopback), an agent with a recording
 * responder, and the fake Bot API. Rule: block critical HTTP 404 bursts after
 * a few seconds without an answer.
 */
describe("no-answer policy end to end: controller, agent over mTLS, fake Bot API", function () {
  this.timeout(60_000);
  let port: number;
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;

  const world = useTelegramWorld("secarc-policy-e2e-", async () => {
    await agent?.close();
    agent = undefined;
    await controller?.close();
    controller = undefined;
  });
  beforeEach(async () => {
    port = await freeLoopbackPort();
  });

  function controllerConfig(after: string) {
    const input: Partial<ControllerConfigInput> = {
      listen: { host: "127.0.0.1", port },
      telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } },
      policy: { rules: [{ kind: "http_404_burst", severity: "critical", answer: "block_ip", after, duration: "1h" }] },
    };
    return testControllerConfig(world.pki, world.dir, input);
  }

  async function startAll(after: string) {
    controller = await startController({ config: controllerConfig(after), logger: silentLogger() });
    const certs = await world.pki.issueAgent("policy-web-1");
    const requestedBy: Operator[] = [];
    const responder = createRecordingResponder({ afterRecord: (action) => requestedBy.push(action.requestedBy!) });
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, "agent-state"), port }), "test");
    agent = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(responder)) });
    await agent.waitConnected(10_000);
    return { responder, requestedBy, after };
  }

  async function restartController(after: string, downMs = 0): Promise<void> {
    await controller!.close();
    controller = undefined;
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    controller = await startController({ config: controllerConfig(after), logger: silentLogger() });
    await eventually("the agent is back", () => controller!.onlineAgents().includes("policy-web-1"), 15_000);
  }

  async function newMessage(text: string): Promise<FakeMessage> {
    return world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes(text)), 10_000);
  }

  function button(message: FakeMessage, label: string): string {
    const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
    if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
    return found.callback_data;
  }

  async function tap(message: FakeMessage, data: string): Promise<string | undefined> {
    const id = world.api.tapButton(CHAT, message.messageId, data, OPERATOR);
    return (await world.api.waitFor(() => world.api.answeredCallbacks.find((a) => a.callbackQueryId === id), 10_000)).text;
  }

  it("blocks a critical HTTP 404 alert left unanswered after the rule's time, exactly once, and a restart does not repeat it", async () => {
    const { responder, requestedBy } = await startAll("3s");
    const alert = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    agent!.emit(alert);
    const message = await newMessage("185 HTTP 404s in 60 s from 198.51.100.23");
    const blockData = button(message, "Block IP");
    const ignoreData = button(message, "Ignore");

    await world.api.waitFor(() => message.text.includes("done: recorded BLOCK_IP") && message, 15_000);
    expect(message.text).to.include("Block IP applied automatically by policy after 3 s");
    expect(message.text).to.not.include("chosen by");
    expect(message.replyMarkup).to.equal(undefined);
    expect(responder.executions.map((e) => e.answer)).to.deep.equal(["BLOCK_IP"]);
    expect(requestedBy.map((o) => [o.telegramUserId, o.username, o.displayName])).to.deep.equal([[0n, "policy", "policy: block_ip critical http_404_burst after 3s"]]);

    // Stored before sent, after the rule's time, as the policy; one action for the alert.
    const stored = (await controller!.store.getAlert(alert.id))!;
    const [action, ...others] = (await controller!.store.listActionsForAlert(alert.id));
    expect(others).to.deep.equal([]);
    expect(action!.requestedAt.getTime() - stored.receivedAt.getTime()).to.be.at.least(3_000);
    expect(action).to.deep.include({ state: "done", answer: Answer.BLOCK_IP, policy: { afterMs: 3_000 } });
    expect(action!.target?.target).to.deep.equal({ case: "ip", value: "198.51.100.23" });
    expect(Number(action!.options?.duration?.seconds)).to.equal(3_600);

    // A late tap is refused like a second tap.
    expect(await tap(message, ignoreData)).to.equal("Already answered: Block IP chosen by policy: block_ip critical http_404_burst after 3s.");
    expect(await tap(message, blockData)).to.match(/^Already answered: Block IP chosen by policy/);

    // A restart after the action was created creates no second one, even past another rule period.
    await restartController("3s");
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect((await controller!.store.listActionsForAlert(alert.id))).to.have.length(1);
    expect(responder.executions).to.have.length(1);
    expect(message.text).to.include("Block IP applied automatically by policy after 3 s");
    expect(world.api.messagesIn(CHAT)).to.have.length(1);
  });

  it("a controller stopped before the rule's time applies it after its restart, once", async () => {
    const { responder, requestedBy } = await startAll("3s");
    const alert = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    agent!.emit(alert);
    const message = await newMessage("185 HTTP 404s in 60 s from 198.51.100.23");
    expect((await controller!.store.listActionsForAlert(alert.id))).to.deep.equal([]);

    // Down across the rule's time: nothing can act meanwhile.
    await restartController("3s", 3_500);
    await world.api.waitFor(() => message.text.includes("done: recorded BLOCK_IP") && message, 15_000);
    expect(message.text).to.include("Block IP applied automatically by policy after 3 s");
    expect(responder.executions.map((e) => e.answer)).to.deep.equal(["BLOCK_IP"]);
    expect(requestedBy.map((o) => o.username)).to.deep.equal(["policy"]);
    expect((await controller!.store.listActionsForAlert(alert.id))).to.have.length(1);
  });

  it("leaves an alert answered in time, and one no rule names, untouched", async () => {
    const { responder } = await startAll("5s");
    const answered = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    const warning = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING });
    agent!.emit(answered);
    agent!.emit(warning);
    const messages = await world.api.waitFor(() => {
      const shown = world.api.messagesIn(CHAT).filter((m) => m.text.includes("185 HTTP 404s"));
      return shown.length === 2 && shown;
    }, 10_000);
    const critical = messages.find((m) => m.text.includes("CRITICAL"))!;
    expect(await tap(critical, button(critical, "Ignore"))).to.equal("Ignore: sent to policy-web-1.");
    await world.api.waitFor(() => critical.text.includes("done: recorded IGNORE") && critical, 10_000);

    // Well past the rule's time for both alerts.
    const receivedAt = (await controller!.store.getAlert(answered.id))!.receivedAt.getTime();
    await eventually("the rule's time has passed", () => Date.now() > receivedAt + 5_500, 15_000);
    expect(responder.executions.map((e) => e.answer)).to.deep.equal(["IGNORE"]);
    expect((await controller!.store.listActionsForAlert(answered.id)).map((a) => [a.operator.username, a.policy])).to.deep.equal([["op", undefined]]);
    expect((await controller!.store.listActionsForAlert(warning.id))).to.deep.equal([]);
    expect(critical.text).to.include("Ignore chosen by @op");
    expect(critical.text).to.not.include("applied automatically");
    const other = messages.find((m) => m !== critical)!;
    expect(other.text).to.include("Waiting for an answer");
    expect(other.replyMarkup?.inline_keyboard.flat().map((b) => b.text)).to.deep.equal(["Ignore", "Block IP", "Block on all servers"]);
  });
});
