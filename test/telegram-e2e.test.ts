import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfig } from "../agent/config.js";
import type { Responder } from "../agent/responders/responder.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import type { FakeMessage } from "../testing/fake-bot-api.js";
import { Answer, ResultStatus, type ResponseAction } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { useTelegramWorld } from "./support/telegram-world.js";
import { givenResponders } from "./support/given-responders.js";

const CHAT = 1001;
const OPERATOR = { id: 77, username: "op" };
const STRANGER = { id: 666, username: "mallory" };

/** Carries out every answer by recording it; a block reports what a firewall would. */
function createRecordingFirewall(): Responder & { executed: ResponseAction[] } {
  const executed: ResponseAction[] = [];
  return {
    name: "recording-firewall",
    answers: [Answer.ALLOW, Answer.IGNORE, Answer.CLOSE_SESSION, Answer.BLOCK_IP, Answer.UNBLOCK_IP, Answer.KILL_PROCESS, Answer.REBOOT, Answer.SHUTDOWN],
    executed,
    async execute(action) {
      executed.push(action);
      const target = action.target?.target;
      if (action.answer === Answer.BLOCK_IP && target?.case === "ip") {
        const hours = Number(action.options?.duration?.seconds ?? 0n) / 3600;
        return { status: ResultStatus.DONE, detail: `${target.value} blocked for ${hours}h`, expiresAt: new Date(Date.now() + hours * 3_600_000) };
      }
      return { status: ResultStatus.DONE, detail: `${Answer[action.answer]} done` };
    },
  };
}

describe("telegram bridge end to end: fake Bot API, real controller, real agent over mTLS", function () {
  this.timeout(40_000);
  let controller: RunningController | undefined;
  let agents: RunningAgent[] = [];

  const world = useTelegramWorld("secarc-telegram-e2e-", async () => {
    for (const agent of agents.splice(0)) await agent.close();
    await controller?.close();
    controller = undefined;
  });

  async function start(name: string): Promise<{ agentConfig: AgentConfig; firewall: ReturnType<typeof createRecordingFirewall>; agent: RunningAgent }> {
    const port = await freeLoopbackPort();
    controller = await startController({
      config: testControllerConfig(world.pki, world.dir, {
        listen: { host: "127.0.0.1", port },
        telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" }, confirmTimeout: "5s" },
      }),
      logger: silentLogger(),
    });
    const certs = await world.pki.issueAgent(name);
    const agentConfig = parseConfig(agentConfigSchema, testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, `${name}-state`), port }), "test");
    const firewall = createRecordingFirewall();
    const agent = await runAgent(agentConfig, firewall);
    await agent.waitConnected(10_000);
    return { agentConfig, firewall, agent };
  }

  async function runAgent(config: AgentConfig, responder: Responder): Promise<RunningAgent> {
    const agent = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map(responder.answers.map((a) => [a, responder]))) });
    agents.push(agent);
    return agent;
  }

  function button(message: FakeMessage, label: string): string {
    const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
    if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
    return found.callback_data;
  }

  async function answered(queryId: string): Promise<string | undefined> {
    return (await world.api.waitFor(() => world.api.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 10_000)).text;
  }

  it("Block IP: the agent carries it out and the message ends in done, with who chose it", async () => {
    const { agent, firewall } = await start("tg-web-1");
    agent.emit(sampleAlert(AlertKind.HTTP_404_BURST));
    const message = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes("185 HTTP 404s in 60 s from 198.51.100.23")), 10_000);
    expect(message.text).to.include("Server: <b>tg-web-1</b>");
    expect(message.replyMarkup!.inline_keyboard.flat().map((b) => b.text)).to.deep.equal(["Ignore", "Block IP", "Block on all servers"]);
    expect(await answered(world.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR))).to.equal("Block IP: sent to tg-web-1.");
    await world.api.waitFor(() => message.text.includes("done: 198.51.100.23 blocked for 24h"), 10_000);
    expect(message.text).to.include("Block IP chosen by @op");
    expect(message.replyMarkup).to.equal(undefined);
    expect(firewall.executed.map((a) => [Answer[a.answer], a.target?.target.value, a.requestedBy?.username])).to.deep.equal([["BLOCK_IP", "198.51.100.23", "op"]]);
    expect(world.api.messagesIn(CHAT)).to.have.length(1);
  });

  it("while the agent is offline the message says queued, then done after it reconnects", async () => {
    const { agent, agentConfig } = await start("tg-web-2");
    agent.emit(sampleAlert(AlertKind.SSH_BRUTE_FORCE));
    const message = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes("57 failed SSH logins")), 10_000);
    agents.splice(agents.indexOf(agent), 1);
    await agent.close();
    await eventually("the controller sees the agent offline", () => !controller!.onlineAgents().includes("tg-web-2"));
    expect(await answered(world.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR))).to.equal("Block IP: queued, tg-web-2 is offline.");
    await world.api.waitFor(() => message.text.includes("queued: server offline, will run when it reconnects"), 10_000);
    const firewall = createRecordingFirewall();
    await runAgent(agentConfig, firewall);
    await world.api.waitFor(() => message.text.includes("done: 198.51.100.9 blocked for 24h"), 15_000);
    expect(message.text).to.not.include("queued");
    expect(firewall.executed.map((a) => Answer[a.answer])).to.deep.equal(["BLOCK_IP"]);
  });

  it("Reboot runs only after the confirming second tap, exactly once", async () => {
    const { agent, firewall } = await start("tg-web-3");
    agent.emit(sampleAlert(AlertKind.CPU_SUSTAINED));
    const message = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes("CPU at 93 % for 2 min — top: xmrig 180 %")), 10_000);
    expect(await answered(world.api.tapButton(CHAT, message.messageId, button(message, "Reboot"), OPERATOR))).to.equal("Tap again to confirm.");
    await world.api.waitFor(() => message.replyMarkup?.inline_keyboard.flat().some((b) => b.text === "Confirm reboot?"), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(firewall.executed).to.deep.equal([]);
    const confirm = button(message, "Confirm reboot?");
    expect(await answered(world.api.tapButton(CHAT, message.messageId, confirm, OPERATOR))).to.equal("Reboot: sent to tg-web-3.");
    await world.api.waitFor(() => message.text.includes("done: REBOOT done"), 10_000);
    // A repeated confirm changes nothing.
    expect(await answered(world.api.tapButton(CHAT, message.messageId, confirm, OPERATOR))).to.equal("Confirmation expired; tap the answer again.");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(firewall.executed.map((a) => Answer[a.answer])).to.deep.equal(["REBOOT"]);
  });

  it("a tap from a user not on the allow-list changes nothing and is audited", async () => {
    const { agent, firewall } = await start("tg-web-4");
    agent.emit(sampleAlert(AlertKind.SSH_SESSION));
    const message = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes("New SSH login: alice")), 10_000);
    const before = message.text;
    expect(await answered(world.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), STRANGER))).to.equal("You are not allowed to do this.");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(firewall.executed).to.deep.equal([]);
    expect(message.text).to.equal(before);
    expect((await controller!.store.listActionsForAlert((await controller!.store.listOpenAlerts(10))[0]!.alertId))).to.deep.equal([]);
    const audit = (await controller!.store.listAudit(10)).find((a) => a.event === "telegram.refused");
    expect(audit?.actor).to.equal("telegram:666 (@mallory)");
  });
});
