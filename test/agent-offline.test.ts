import { join } from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfig } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import type { FakeMessage } from "../testing/fake-bot-api.js";
import { formatTime } from "../controller/telegram/text-format.js";
import { AlertKind, type AgentOffline } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { useTelegramWorld } from "./support/telegram-world.js";

const CHAT = 3001;
const CHAT_ES = 3002;
const GRACE_MS = 1_500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Issue 8, acceptance 2: an agent that stays offline longer than
 * link.offlineAlertAfter raises a controller-side "offline" message in
 * Telegram; when it is back, the same message is edited to say so. Real
 * agent over mutual TLS on loopback, real SQLite, the fake Bot API; a short
 * grace period instead of the default 2 minutes.
 */
describe("agent silence is an alert: offline after the grace period, resolved in the same message", function () {
  this.timeout(60_000);
  let port: number;
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;
  let agentConfig: AgentConfig;

  const world = useTelegramWorld("secarc-offline-", async () => {
    await agent?.close();
    agent = undefined;
    await controller?.close();
    controller = undefined;
  });
  beforeEach(async () => {
    port = await freeLoopbackPort();
    const certs = await world.pki.issueAgent("web-1");
    agentConfig = parseConfig(agentConfigSchema, testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, "agent-state"), port }), "test");
  });

  async function startTheController(): Promise<RunningController> {
    const config = testControllerConfig(world.pki, world.dir, {
      listen: { host: "127.0.0.1", port },
      link: { offlineAlertAfter: `${GRACE_MS}ms` },
      telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }, { id: CHAT_ES, locale: "es" }], allowedUsers: [77], pace: { perChat: "50ms" } },
    });
    controller = await startController({ config, logger: silentLogger() });
    return controller;
  }
  async function startTheAgent(): Promise<RunningAgent> {
    agent = await startAgent({ config: agentConfig, logger: silentLogger(), detectors: () => [] });
    await agent.waitConnected(10_000);
    return agent;
  }
  async function stopTheAgent(): Promise<void> {
    await agent!.close();
    agent = undefined;
    await eventually("the controller has seen web-1 go", async () => !controller!.onlineAgents().includes("web-1") && (await controller!.store.getAgent("web-1"))?.online === false);
  }
  const offlineMessages = (chatId: number) => world.api.messagesIn(chatId).filter((m) => m.history.some((text) => text.includes("web-1</b> offline since") || text.includes("web-1</b> desconectado desde")));
  const offlineSubject = async (): Promise<AgentOffline> => {
    const [open] = (await controller!.store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE));
    if (open?.alert.subject.case !== "agentOffline") throw new Error("no open offline alert");
    return open.alert.subject.value;
  };
  async function offlineMessage(): Promise<FakeMessage> {
    try {
      return await world.api.waitFor(() => offlineMessages(CHAT)[0], 15_000);
    } catch (err) {
      const shown = JSON.stringify(world.api.messagesIn(CHAT).map((m) => m.text));
      const agents = JSON.stringify((await controller!.store.listAgents()).map((a) => [a.agentId, a.online, a.lastSeen]));
      throw new Error(`no offline message for web-1; messages: ${shown}; agents: ${agents}`, { cause: err });
    }
  }

  it("stopping an agent raises an offline message after the grace period (no buttons, en and es); restarting it edits the same message to back online", async () => {
    await startTheController();
    await startTheAgent();
    await sleep(GRACE_MS + 500);
    expect(offlineMessages(CHAT), "no offline message while the agent is connected").to.deep.equal([]);

    await stopTheAgent();
    const stoppedAt = Date.now();
    const message = await offlineMessage();
    const raisedAfterMs = Date.now() - stoppedAt;
    console.log(`      offline message ${raisedAfterMs} ms after the agent stopped (grace ${GRACE_MS} ms)`);
    expect(raisedAfterMs).to.be.at.least(GRACE_MS - 200);
    const since = timestampMs((await offlineSubject()).offlineSince!);
    expect(message.text).to.include("🟠 <b>WARNING</b> · Server offline");
    expect(message.text).to.include(`🔌 <b>web-1</b> offline since ${formatTime(since)}`);
    expect(message.text).to.not.include("Waiting for an answer");
    expect(message.replyMarkup).to.equal(undefined);
    const es = await world.api.waitFor(() => offlineMessages(CHAT_ES)[0], 10_000);
    expect(es.text).to.include(`🔌 <b>web-1</b> desconectado desde ${formatTime(since)}`);

    // Well past the grace period again: still one message.
    await sleep(2 * GRACE_MS);
    expect(offlineMessages(CHAT)).to.have.length(1);

    const [open] = (await controller!.store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE));
    const beforeStart = Date.now();
    await startTheAgent();
    const afterStart = Date.now();
    await world.api.waitFor(() => message.text.includes("back online") && message, 10_000);
    expect((await controller!.store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE))).to.deep.equal([]);
    const resolved = (await controller!.store.getAlert(open!.alertId))!.alert;
    const back = resolved.subject.case === "agentOffline" && resolved.subject.value.backOnlineAt ? timestampMs(resolved.subject.value.backOnlineAt) : 0;
    expect(back).to.be.within(beforeStart, afterStart);
    const seconds = Math.round((back - since) / 1000);
    expect(message.text).to.include(`✅ <b>web-1</b> back online at ${formatTime(back)}, offline ${seconds} s`);
    expect(seconds).to.be.at.least(Math.floor((GRACE_MS * 3) / 1000));
    expect(message.text).to.include(`🔌 <b>web-1</b> offline since ${formatTime(since)}`);
    expect(message.replyMarkup).to.equal(undefined);
    // The same message, edited: one sendMessage for it, then an edit of that message_id.
    expect(offlineMessages(CHAT)).to.have.length(1);
    const edits = world.api.calls.filter((c) => c.method === "editMessageText" && c.params.chat_id === CHAT && c.params.message_id === message.messageId);
    expect(edits.length).to.be.at.least(1);
    expect(String(edits[edits.length - 1]!.params.text)).to.include("back online");
    const esResolved = await world.api.waitFor(() => es.text.includes("conectado de nuevo") && es, 10_000);
    expect(esResolved.text).to.match(/<b>web-1<\/b> conectado de nuevo a las .* UTC, desconectado \d+ s/);
  });

  it("survives a controller restart: an agent offline before and after gets exactly one message, and its return resolves it", async () => {
    await startTheController();
    await startTheAgent();
    await stopTheAgent();
    const message = await offlineMessage();

    // Restart while web-1 stays away, and wait well past the grace period.
    await controller!.close();
    controller = undefined;
    await startTheController();
    await sleep(3 * GRACE_MS);
    expect(offlineMessages(CHAT)).to.have.length(1);
    expect(world.api.messagesIn(CHAT).filter((m) => m.text.includes("offline since"))).to.have.length(1);

    await startTheAgent();
    await world.api.waitFor(() => message.text.includes("back online") && message, 10_000);
    expect(offlineMessages(CHAT)).to.have.length(1);
    expect((await controller!.store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE))).to.deep.equal([]);
  });

  it("a controller restarted while the agent was away counts the grace period from its start; an agent that never connected is not alerted", async () => {
    await startTheController();
    await startTheAgent();
    await stopTheAgent();
    // Down before the grace period ran out.
    await controller!.close();
    controller = undefined;
    await world.pki.issueAgent("never-1"); // a certificate whose agent never connects
    await startTheController();
    const startedAt = Date.now();
    const message = await offlineMessage();
    expect(Date.now() - startedAt).to.be.at.least(GRACE_MS - 200);
    await sleep(2 * GRACE_MS);
    expect(offlineMessages(CHAT)).to.deep.equal([message]);
    expect(world.api.messagesIn(CHAT).filter((m) => m.text.includes("never-1"))).to.deep.equal([]);
    expect((await controller!.store.getAgent("never-1"))).to.equal(undefined);
  });
});
