import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import type { FakeMessage } from "../testing/fake-bot-api.js";
import { AlertKind, Severity } from "../gen/secarc/v1/alert_pb.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";
import { freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { givenResponders } from "./support/given-responders.js";
import { useTelegramWorld } from "./support/telegram-world.js";

const WEB_CHAT = -1001;
const DB_CHAT = -1002;
const ONCALL = -1003;
const OPERATOR = { id: 77, username: "op" };
const BURST_TEXT = "HTTP 404s in 60 s from 198.51.100.23";

/**
 * Issue 16, acceptance 4: routes by labels, kind and severity, with a forum
 * topic, against the fake Bot API (which checks message_thread_id as
 * Telegram does), the real controller and two agents over mTLS.
 */
describe("routes: labels and severity choose the chats; a forum topic; one state in every copy", function () {
  this.timeout(90_000);
  let port: number;
  let controller: RunningController | undefined;
  const agents: RunningAgent[] = [];

  const world = useTelegramWorld("secarc-routes-", async () => {
    for (const agent of agents.splice(0)) await agent.close();
    await controller?.close();
    controller = undefined;
  });
  beforeEach(async () => {
    port = await freeLoopbackPort();
  });

  async function startAgentNamed(id: string, labels: Record<string, string>): Promise<RunningAgent> {
    const certs = await world.pki.issueAgent(id);
    const written = { ...testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, `state-${id}`), port }), labels };
    const responder = createRecordingResponder();
    const agent = await startAgent({ config: parseConfig(agentConfigSchema, written, "test"), logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(responder)) });
    agents.push(agent);
    await agent.waitConnected(10_000);
    return agent;
  }

  const inChat = (chatId: number, text: string) => world.api.messagesIn(chatId).filter((m) => m.text.includes(text));

  async function command(chatId: number, line: string, text: string, threadId?: number): Promise<FakeMessage> {
    const before = world.api.messagesIn(chatId).length;
    world.api.sendCommand(chatId, OPERATOR, line, threadId !== undefined ? { threadId } : {});
    return world.api.waitFor(() => world.api.messagesIn(chatId).slice(before).find((m) => m.text.includes(text)), 10_000);
  }

  it("db alerts reach only the db chat, critical ones also the on-call topic; a tap in one chat edits the other; commands stay in their chat and topic", async () => {
    const topic = world.api.addForumTopic(ONCALL, "on-call");
    const config = testControllerConfig(world.pki, world.dir, {
      listen: { host: "127.0.0.1", port },
      telegram: {
        token: world.api.token,
        apiRoot: world.api.apiRoot,
        chats: [{ id: WEB_CHAT }, { id: DB_CHAT }, { id: ONCALL }],
        allowedUsers: [OPERATOR.id],
        pace: { perChat: "20ms", perGroupPerMinute: 600 },
        routes: [
          { match: { minSeverity: "critical" }, chats: [ONCALL], thread: topic, continue: true },
          { match: { labels: { team: "db" } }, chats: [DB_CHAT] },
          { chats: [WEB_CHAT] },
        ],
      },
    });
    controller = await startController({ config, logger: silentLogger() });
    const db1 = await startAgentNamed("db-1", { team: "db" });
    const web1 = await startAgentNamed("web-1", { team: "web" });

    const dbWarning = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING });
    const dbCritical = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    const webWarning = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING });
    db1.emit(dbWarning);
    db1.emit(dbCritical);
    web1.emit(webWarning);
    await world.api.waitFor(() => inChat(DB_CHAT, BURST_TEXT).length === 2 && inChat(WEB_CHAT, BURST_TEXT).length === 1 && inChat(ONCALL, BURST_TEXT).length === 1, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));

    expect(inChat(DB_CHAT, BURST_TEXT).every((m) => m.text.includes("db-1"))).to.equal(true);
    expect(inChat(WEB_CHAT, BURST_TEXT).map((m) => m.text.includes("web-1"))).to.deep.equal([true]);
    const [oncall] = inChat(ONCALL, BURST_TEXT);
    expect(oncall!.text).to.include("CRITICAL").and.to.include("db-1");
    expect(oncall!.threadId).to.equal(topic);
    expect(world.api.calls.filter((c) => c.method === "sendMessage" && Number(c.params.chat_id) === ONCALL).map((c) => Number(c.params.message_thread_id))).to.deep.equal([topic]);
    expect(inChat(DB_CHAT, BURST_TEXT).every((m) => m.threadId === undefined)).to.equal(true);

    // A tap in the on-call topic edits the db chat's copy too.
    const dbCopy = inChat(DB_CHAT, BURST_TEXT).find((m) => m.text.includes("CRITICAL"))!;
    const ignore = oncall!.replyMarkup!.inline_keyboard.flat().find((b) => b.text === "Ignore")!;
    world.api.tapButton(ONCALL, oncall!.messageId, ignore.callback_data!, OPERATOR);
    await world.api.waitFor(() => oncall!.text.includes("done: recorded IGNORE") && dbCopy.text.includes("done: recorded IGNORE"), 15_000);
    expect(dbCopy.text).to.include("Ignore chosen by @op");
    expect(dbCopy.replyMarkup).to.equal(undefined);

    // Commands answer where they were sent and show what that chat's routes cover.
    const dbAlerts = await command(DB_CHAT, "/alerts", "Open alerts");
    expect(dbAlerts.text).to.include("Open alerts (2)").and.to.include("db-1").and.not.include("web-1");
    const webAlerts = await command(WEB_CHAT, "/alerts", "Open alerts");
    expect(webAlerts.text).to.include("Open alerts (1)").and.to.include("web-1").and.not.include("db-1");
    const dbStatus = await command(DB_CHAT, "/status", "Servers");
    expect(dbStatus.text).to.include("Servers (1)").and.to.include("db-1").and.not.include("web-1");
    const topicStatus = await command(ONCALL, "/status", "Servers", topic);
    expect(topicStatus.threadId).to.equal(topic);
    expect(topicStatus.text).to.include("Servers (2)");
  });

  it("the fake Bot API refuses a topic the chat does not have, as Telegram does", async () => {
    const topic = world.api.addForumTopic(ONCALL, "on-call");
    const call = (params: Record<string, unknown>) =>
      fetch(`${world.api.apiRoot}/bot${world.api.token}/sendMessage`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ chat_id: ONCALL, text: "x", ...params }) });
    expect((await call({ message_thread_id: topic })).status).to.equal(200);
    const missing = await call({ message_thread_id: topic + 100 });
    expect(missing.status).to.equal(400);
    expect(((await missing.json()) as { description: string }).description).to.equal("Bad Request: message thread not found");
    expect((await call({ message_thread_id: -1 })).status).to.equal(400);
    const notForum = await fetch(`${world.api.apiRoot}/bot${world.api.token}/sendMessage`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ chat_id: DB_CHAT, text: "x", message_thread_id: topic }) });
    expect(notForum.status).to.equal(400);
  });
});
