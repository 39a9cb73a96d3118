import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import { newId } from "../common/ids.js";
import { silentLogger } from "../common/log.js";
import { createEventBus } from "../controller/domain/events.js";
import { freeLoopbackPort } from "./support/agent-process.js";
import { captureLog } from "./support/controller-harness.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { ALL_ANSWERS, sampleAlert } from "../testing/alert-fixtures.js";
import { startTelegramBridge } from "../controller/telegram/bridge.js";
import { decodeCallback, encodeCallback } from "../controller/telegram/callback-data.js";
import { telegramConfigSchema } from "../controller/telegram/config.js";
import { createFakeBotApi, type FakeMessage } from "../testing/fake-bot-api.js";
import { button, CHAT, CHAT_ES, createTestActionRequests, firstMessage, labels, OPERATOR, startHarness, STRANGER, type Harness } from "./support/telegram-harness.js";

describe("telegram bridge against the fake Bot API", function () {
  this.timeout(20_000);
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it("sends each alert kind to every configured chat, in its language, with the right buttons", async () => {
    h = await startHarness();
    await h.connectAgent();
    const kinds = [AlertKind.SSH_SESSION, AlertKind.SSH_BRUTE_FORCE, AlertKind.CPU_SUSTAINED, AlertKind.HTTP_404_BURST];
    for (const kind of kinds) await h.raise(sampleAlert(kind));
    await h.api.waitFor(() => h.api.messagesIn(CHAT).length === 4 && h.api.messagesIn(CHAT_ES).length === 4, 5000);
    const en = h.api.messagesIn(CHAT);
    expect(en.find((m) => m.text.includes("New SSH login: alice from 203.0.113.7 port 51234 (publickey)"))).to.satisfy((m: FakeMessage) => labels(m).join() === "Allow,Close session,Block IP");
    expect(labels(en.find((m) => m.text.includes("CPU at 93 % for 2 min — top: xmrig 180 %")))).to.deep.equal(["Ignore", "Reboot", "Shut down", "Kill xmrig"]);
    expect(labels(en.find((m) => m.text.includes("185 HTTP 404s in 60 s from 198.51.100.23")))).to.deep.equal(["Ignore", "Block IP"]);
    expect(labels(en.find((m) => m.text.includes("57 failed SSH logins")))).to.deep.equal(["Block IP", "Ignore"]);
    const es = h.api.messagesIn(CHAT_ES);
    expect(labels(es.find((m) => m.text.includes("Nuevo acceso SSH: alice")))).to.deep.equal(["Permitir", "Cerrar sesión", "Bloquear IP"]);
    expect(es.every((m) => m.text.includes("Servidor: <b>web-1</b>"))).to.equal(true);
    expect(h.api.commands.map((c) => c.command)).to.include.members(["status", "alerts", "blocks", "help"]);
    // Nobody else got anything.
    expect(h.api.messages.filter((m) => m.chatId !== CHAT && m.chatId !== CHAT_ES)).to.deep.equal([]);
  });

  it("offers only the answers the agent supports", async () => {
    h = await startHarness();
    await h.connectAgent("web-1", [Answer.IGNORE]);
    await h.raise(sampleAlert(AlertKind.CPU_SUSTAINED));
    const message = await firstMessage(h.api, CHAT, "CPU at 93 %");
    expect(labels(message)).to.deep.equal(["Ignore"]);
  });

  it("Block IP: the agent receives the action and the message ends in done, with who chose it", async () => {
    h = await startHarness();
    await h.connectAgent();
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    await h.raise(alert);
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    const queryId = h.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    const answered = await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 5000);
    expect(answered.text).to.equal("Block IP: sent to web-1.");
    expect(h.delivered).to.have.length(1);
    const action = h.delivered[0]!;
    expect(action.answer).to.equal(Answer.BLOCK_IP);
    expect(action.target?.target).to.deep.include({ case: "ip", value: "198.51.100.23" });
    expect(Number(action.options?.duration?.seconds)).to.equal(86_400);
    expect(action.operator.telegramUserId).to.equal(77n);
    await h.api.waitFor(() => message.text.includes("Block IP chosen by @op") && message.text.includes("sent to the server"), 5000);
    expect(labels(message)).to.deep.equal([]);
    await h.finish(action, ResultStatus.DONE, "198.51.100.23 blocked for 24h");
    await h.api.waitFor(() => message.text.includes("done: 198.51.100.23 blocked for 24h"), 5000);
    expect(message.text).to.include("Block IP chosen by @op");
    const es = await firstMessage(h.api, CHAT_ES, "185 respuestas");
    await h.api.waitFor(() => es.text.includes("hecho; el servidor informa (en inglés): «198.51.100.23 blocked for 24h»") && es.text.includes("Bloquear IP elegido por @op"), 5000);
    // One message per alert per chat, edited in place.
    expect(h.api.messagesIn(CHAT)).to.have.length(1);
  });

  it("while the agent is offline the answer is queued, then done after it reconnects", async () => {
    h = await startHarness();
    await h.connectAgent();
    const alert = sampleAlert(AlertKind.SSH_BRUTE_FORCE);
    await h.raise(alert);
    const message = await firstMessage(h.api, CHAT, "57 failed SSH logins");
    await h.disconnectAgent();
    const queryId = h.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    const answered = await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 5000);
    expect(answered.text).to.equal("Block IP: queued, web-1 is offline.");
    await h.api.waitFor(() => message.text.includes("queued: server offline, will run when it reconnects"), 5000);
    expect(h.delivered).to.have.length(0);
    await h.connectAgent();
    expect(h.delivered).to.have.length(1);
    await h.api.waitFor(() => message.text.includes("sent to the server"), 5000);
    await h.finish(h.delivered[0]!, ResultStatus.DONE, "198.51.100.9 blocked for 24h");
    await h.api.waitFor(() => message.text.includes("done: 198.51.100.9 blocked for 24h"), 5000);
    expect(message.text).to.not.include("queued");
  });

  it("a second tap on an answered alert changes nothing and says who answered", async () => {
    h = await startHarness();
    await h.connectAgent();
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    await h.raise(alert);
    const message = await firstMessage(h.api, CHAT, "New SSH login");
    const allow = button(message, "Allow");
    const block = button(message, "Block IP");
    h.api.tapButton(CHAT, message.messageId, allow, OPERATOR);
    // Allow asks for how long first.
    await h.api.waitFor(() => labels(message).includes("Allow 1 h"), 5000);
    h.api.tapButton(CHAT, message.messageId, button(message, "Allow 1 h"), OPERATOR);
    await h.api.waitFor(() => message.text.includes("Allow chosen by @op"), 5000);
    const second = h.api.tapButton(CHAT, message.messageId, block, { id: OPERATOR.id, username: "op" });
    const answered = await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === second), 5000);
    expect(answered.text).to.equal("Already answered: Allow chosen by @op.");
    expect(h.delivered.map((a) => a.answer)).to.deep.equal([Answer.ALLOW]);
  });

  it("refuses and audits taps and commands from users not on the allow-list; nothing changes", async () => {
    h = await startHarness();
    await h.connectAgent();
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    const before = message.text;
    const queryId = h.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), STRANGER);
    const answered = await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 5000);
    expect(answered.text).to.equal("You are not allowed to do this.");
    h.api.sendCommand(CHAT, STRANGER, "/blocks");
    await h.api.waitFor(() => h.api.messagesIn(CHAT).find((m) => m.text === "You are not allowed to do this."), 5000);
    expect(h.delivered).to.deep.equal([]);
    expect(message.text).to.equal(before);
    expect(labels(message)).to.deep.equal(["Ignore", "Block IP"]);
    const audit = (await h.store.listAudit(10));
    // One burst of taps and one of commands: one audit entry each.
    expect(audit.filter((a) => a.event === "telegram.refused" && a.actor.includes("666"))).to.have.length(2);
  });

  it("refuses forged and garbled callback data", async () => {
    h = await startHarness();
    await h.connectAgent();
    const alert = sampleAlert(AlertKind.CPU_SUSTAINED);
    await h.raise(alert);
    const message = await firstMessage(h.api, CHAT, "CPU at 93 %");
    const forged = [
      "garbage",
      "2|a|x|4",
      `1|c|${encodeCallback({ type: "open", alertId: alert.id })!.split("|")[2]}|${Answer.BLOCK_IP}`,
      encodeCallback({ type: "answer", alertId: newId(), answer: Answer.REBOOT })!,
      encodeCallback({ type: "answer", alertId: alert.id, answer: Answer.BLOCK_IP })!,
    ];
    const ids = forged.map((data) => h.api.tapButton(CHAT, message.messageId, data, OPERATOR));
    const answers = await h.api.waitFor(() => {
      const found = ids.map((id) => h.api.answeredCallbacks.find((a) => a.callbackQueryId === id));
      return found.every(Boolean) ? found : undefined;
    }, 5000);
    expect(answers.map((a) => a!.text)).to.deep.equal([
      "This button is not valid.",
      "This button is not valid.",
      "This button is not valid.",
      "This alert is not known (any more).",
      "This server cannot carry out that answer.",
    ]);
    expect(h.delivered).to.deep.equal([]);
    expect((await h.store.listAudit(10)).filter((a) => a.event === "telegram.callback_invalid")).to.have.length(3);
  });

  it("Reboot needs a confirming second tap; a single tap executes nothing", async () => {
    h = await startHarness();
    await h.connectAgent();
    await h.raise(sampleAlert(AlertKind.CPU_SUSTAINED));
    const message = await firstMessage(h.api, CHAT, "CPU at 93 %");
    const first = h.api.tapButton(CHAT, message.messageId, button(message, "Reboot"), OPERATOR);
    expect((await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === first), 5000)).text).to.equal("Tap again to confirm.");
    await h.api.waitFor(() => labels(message).join() === "Confirm reboot?,Cancel", 5000);
    expect(h.delivered).to.deep.equal([]);
    // Cancel restores the answers, and nothing ran.
    const cancel = h.api.tapButton(CHAT, message.messageId, button(message, "Cancel"), OPERATOR);
    await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === cancel), 5000);
    await h.api.waitFor(() => labels(message).includes("Reboot"), 5000);
    expect(h.delivered).to.deep.equal([]);
    // A confirm without a first tap is not enough.
    const stale = encodeCallback({ type: "confirm", alertId: decodeCallback(button(message, "Reboot"))!.type === "answer" ? (decodeCallback(button(message, "Reboot")) as { alertId: string }).alertId : "", answer: Answer.REBOOT })!;
    const lone = h.api.tapButton(CHAT, message.messageId, stale, OPERATOR);
    expect((await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === lone), 5000)).text).to.equal("Confirmation expired; tap the answer again.");
    expect(h.delivered).to.deep.equal([]);
    // Tap, then confirm: exactly one reboot.
    h.api.tapButton(CHAT, message.messageId, button(message, "Reboot"), OPERATOR);
    await h.api.waitFor(() => labels(message).includes("Confirm reboot?"), 5000);
    const confirm = h.api.tapButton(CHAT, message.messageId, button(message, "Confirm reboot?"), OPERATOR);
    expect((await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === confirm), 5000)).text).to.equal("Reboot: sent to web-1.");
    expect(h.delivered.map((a) => a.answer)).to.deep.equal([Answer.REBOOT]);
    await h.api.waitFor(() => message.text.includes("Reboot chosen by @op"), 5000);
  });

  it("the confirmation lapses after confirmTimeout and the answers come back", async () => {
    h = await startHarness({ confirmTimeout: "300ms" });
    await h.connectAgent();
    await h.raise(sampleAlert(AlertKind.CPU_SUSTAINED));
    const message = await firstMessage(h.api, CHAT, "CPU at 93 %");
    h.api.tapButton(CHAT, message.messageId, button(message, "Shut down"), OPERATOR);
    await h.api.waitFor(() => labels(message).includes("Confirm shut down?"), 5000);
    const confirmData = button(message, "Confirm shut down?");
    await h.api.waitFor(() => labels(message).includes("Shut down"), 5000);
    const late = h.api.tapButton(CHAT, message.messageId, confirmData, OPERATOR);
    expect((await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === late), 5000)).text).to.equal("Confirmation expired; tap the answer again.");
    expect(h.delivered).to.deep.equal([]);
  });

  it("edits the same message on escalation and resolution; answers are withdrawn when resolved", async () => {
    h = await startHarness();
    await h.connectAgent();
    const alert = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING });
    await h.raise(alert);
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    expect(message.text).to.include("WARNING");
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST, { id: alert.id, severity: Severity.CRITICAL, revision: 2 }));
    await h.api.waitFor(() => message.text.includes("escalated: WARNING → CRITICAL"), 5000);
    expect(labels(message)).to.deep.equal(["Ignore", "Block IP"]);
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST, { id: alert.id, severity: Severity.CRITICAL, revision: 3, state: AlertState.RESOLVED }));
    await h.api.waitFor(() => message.text.includes("resolved: the condition ended"), 5000);
    expect(labels(message)).to.deep.equal([]);
    expect(h.api.messagesIn(CHAT)).to.have.length(1);
  });

  it("withdraws the answers of an alert nobody answered within the answer window", async () => {
    h = await startHarness({ chats: [{ id: CHAT }], answerWindow: "600ms" });
    await h.connectAgent();
    await h.raise(sampleAlert(AlertKind.SSH_SESSION));
    const message = await firstMessage(h.api, CHAT, "New SSH login");
    const allow = button(message, "Allow");
    await h.api.waitFor(() => message.text.includes("expired: answers no longer offered"), 5000);
    expect(labels(message)).to.deep.equal([]);
    const late = h.api.tapButton(CHAT, message.messageId, allow, OPERATOR);
    expect((await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === late), 5000)).text).to.equal("This alert has expired; answers are no longer offered.");
    expect(h.delivered).to.deep.equal([]);
  });

  it("answers /status, /alerts, /help and /blocks with an Unblock button that sends UNBLOCK_IP", async () => {
    h = await startHarness();
    await h.connectAgent();
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    await h.raise(alert);
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    h.api.sendCommand(CHAT, OPERATOR, "/status");
    await firstMessage(h.api, CHAT, "🟢 <b>web-1</b>: online");
    h.api.sendCommand(CHAT, OPERATOR, "/help");
    await firstMessage(h.api, CHAT, "/blocks — active IP blocks");
    h.api.sendCommand(CHAT, OPERATOR, "/alerts");
    const list = await firstMessage(h.api, CHAT, "Open alerts (1):");
    expect(list.text).to.include("185 HTTP 404s").and.include("⏳ Waiting for an answer");
    h.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    await h.api.waitFor(() => h.delivered.length === 1, 5000);
    // /alerts says where each alert stands, as its message does (the domain's lifecycle).
    const listed = h.api.messagesIn(CHAT).length;
    h.api.sendCommand(CHAT, OPERATOR, "/alerts");
    const answered = await h.api.waitFor(() => h.api.messagesIn(CHAT).slice(listed).find((m) => m.text.startsWith("Open alerts (1):")), 5000);
    expect(answered!.text).to.include("📤 Block IP").and.not.include("Waiting for an answer");
    h.api.sendCommand(CHAT, OPERATOR, "/blocks");
    await firstMessage(h.api, CHAT, "No active blocks.");
    await h.finish(h.delivered[0]!, ResultStatus.DONE, "198.51.100.23 blocked for 24h");
    h.api.sendCommand(CHAT, OPERATOR, "/blocks");
    const blocks = await firstMessage(h.api, CHAT, "Active blocks (1):");
    expect(blocks.text).to.include("198.51.100.23");
    const unblock = h.api.tapButton(CHAT, blocks.messageId, button(blocks, "Unblock 198.51.100.23 (web-1)"), OPERATOR);
    await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === unblock), 5000);
    expect(h.delivered.map((a) => a.answer)).to.deep.equal([Answer.BLOCK_IP, Answer.UNBLOCK_IP]);
    expect(h.delivered[1]!.target?.target).to.deep.include({ case: "ip", value: "198.51.100.23" });
    expect(h.delivered[1]!.alertId).to.equal(undefined);
    // The result shows in the /blocks message itself, and its Unblock button is gone.
    const edited = await h.api.waitFor(() => (h.api.message(CHAT, blocks.messageId)?.text.includes("Unblock <code>198.51.100.23</code> on <b>web-1</b>: 📤 sent to the server") ? h.api.message(CHAT, blocks.messageId) : undefined), 5000);
    expect(edited!.text).to.include("198.51.100.23");
    expect(labels(edited)).to.not.include("Unblock 198.51.100.23 (web-1)");
    await h.finish(h.delivered[1]!, ResultStatus.DONE, "198.51.100.23 unblocked");
    const count = h.api.messagesIn(CHAT).filter((m) => m.text === "No active blocks.").length;
    h.api.sendCommand(CHAT, OPERATOR, "/blocks");
    await h.api.waitFor(() => h.api.messagesIn(CHAT).filter((m) => m.text === "No active blocks.").length === count + 1, 5000);
  });

  it("an alert grouped into a digest can be opened from /alerts and answered", async () => {
    h = await startHarness({ chats: [{ id: CHAT }], digestThreshold: 1, pace: { perChat: "300ms" } });
    await h.connectAgent();
    const alerts = [sampleAlert(AlertKind.SSH_SESSION), sampleAlert(AlertKind.HTTP_404_BURST), sampleAlert(AlertKind.HTTP_404_BURST), sampleAlert(AlertKind.SSH_BRUTE_FORCE)];
    // The first goes out alone (its message sent before the others are queued), the other three pile up behind the chat's pace.
    await h.raise(alerts[0]!);
    await h.api.waitFor(() => h.api.messagesIn(CHAT).length === 1, 5000);
    for (const alert of alerts.slice(1)) await h.raise(alert);
    const digest = await firstMessage(h.api, CHAT, "📦 3 new alerts from <b>web-1</b>: 2 × HTTP 404 burst, 1 × SSH brute force — /alerts");
    expect(digest.replyMarkup).to.equal(undefined);
    expect(h.api.messagesIn(CHAT)).to.have.length(2);
    h.api.sendCommand(CHAT, OPERATOR, "/alerts");
    const list = await firstMessage(h.api, CHAT, "Open alerts (4):");
    const brute = alerts[3]!;
    const show = list.replyMarkup!.inline_keyboard.flat().find((b) => decodeCallback(b.callback_data)?.type === "open" && (decodeCallback(b.callback_data) as { alertId: string }).alertId === brute.id)!;
    expect(show.text).to.match(/^Show #[0-9a-f]{8}$/);
    h.api.tapButton(CHAT, list.messageId, show.callback_data!, OPERATOR);
    const opened = await firstMessage(h.api, CHAT, "Server: <b>web-1</b>\n57 failed SSH logins");
    h.api.tapButton(CHAT, opened.messageId, button(opened, "Block IP"), OPERATOR);
    await h.api.waitFor(() => opened.text.includes("Block IP chosen by @op"), 5000);
    expect(h.delivered.map((a) => a.alertId)).to.deep.equal([brute.id]);
  });

  it("after a restart, buttons of earlier messages still work and unsent alerts go out once", async () => {
    h = await startHarness();
    await h.connectAgent();
    const first = sampleAlert(AlertKind.HTTP_404_BURST);
    await h.raise(first);
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    await h.bridge.stop();
    // Stored while the bridge was down: no event reached it.
    const second = sampleAlert(AlertKind.SSH_SESSION);
    await h.store.upsertAlert("web-1", second, new Date());
    h.bridge = await startTelegramBridge({
      config: telegramConfigSchema.parse({ token: h.api.token, apiRoot: h.api.apiRoot, chats: [{ id: CHAT }, { id: CHAT_ES, locale: "es" }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } }),
      store: h.store,
      events: h.events,
      actions: createTestActionRequests(h.store, h.events, h.delivered),
      logger: silentLogger(),
    });
    await firstMessage(h.api, CHAT, "New SSH login");
    const queryId = h.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 5000);
    expect(h.delivered.map((a) => a.answer)).to.deep.equal([Answer.BLOCK_IP]);
    await h.api.waitFor(() => message.text.includes("Block IP chosen by @op"), 5000);
    expect(h.api.messagesIn(CHAT).filter((m) => m.text.includes("New SSH login"))).to.have.length(1);
    expect(h.api.messagesIn(CHAT).filter((m) => m.text.includes("185 HTTP 404s"))).to.have.length(1);
  });
});

describe("telegram bridge start-up", function () {
  this.timeout(20_000);

  it("starts while Telegram is unreachable, keeps alerts queued, and delivers them once it is back", async () => {
    const probe = createFakeBotApi();
    await probe.start();
    const port = Number(new URL(probe.apiRoot).port);
    await probe.stop();
    const api = createFakeBotApi({ port });
    const dir = mkdtempSync(join(tmpdir(), "secarc-telegram-"));
    const store = openSqliteStore(join(dir, "c.db"));
    const events = createEventBus();
    const config = telegramConfigSchema.parse({ token: api.token, apiRoot: probe.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } });
    const log = captureLog();
    const bridge = await startTelegramBridge({ config, store, events, actions: createTestActionRequests(store, events, []), logger: log.logger });
    try {
      await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [...ALL_ANSWERS], detectors: [], at: new Date() });
      const alert = sampleAlert(AlertKind.SSH_SESSION);
      await store.upsertAlert("web-1", alert, new Date());
      events.publish({ type: "alert", alertId: alert.id, agentId: "web-1", outcome: "inserted" });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await api.start();
      const message = await firstMessage(api, CHAT, "New SSH login");
      const tap = api.tapButton(CHAT, message.messageId, button(message, "Allow"), OPERATOR);
      await api.waitFor(() => api.answeredCallbacks.find((a) => a.callbackQueryId === tap), 10_000);
      expect(api.messagesIn(CHAT)).to.have.length(1);
      // Failures were logged, and the token never was.
      expect(log.lines.length).to.be.greaterThan(0);
      expect(JSON.stringify(log.lines)).to.include("ECONNREFUSED");
      expect(JSON.stringify(log.lines)).to.not.include(api.token.split(":")[1]!);
    } finally {
      await bridge.stop();
      await api.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("telegram bridge with a webhook", function () {
  this.timeout(20_000);
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it("registers the webhook and handles updates that carry the secret token; others are refused", async () => {
    const port = await freeLoopbackPort();
    h = await startHarness({ chats: [{ id: CHAT }], webhook: { domain: "bot.example.org", port, path: "/tg", secretToken: "s3cret-token" } });
    const setWebhook = h.api.calls.find((c) => c.method === "setWebhook")!;
    expect(setWebhook.params.url).to.equal("https://bot.example.org/tg");
    expect(setWebhook.params.secret_token).to.equal("s3cret-token");
    expect(h.api.calls.filter((c) => c.method === "getUpdates")).to.deep.equal([]);
    await h.connectAgent();
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    const update = (id: number) => ({
      update_id: id,
      callback_query: { id: `wh-${id}`, from: { id: OPERATOR.id, is_bot: false, first_name: "Op", username: "op" }, chat_instance: "x", data: button(message, "Block IP"), message: { message_id: message.messageId, date: 0, chat: { id: CHAT, type: "private" }, text: "" } },
    });
    const post = (body: unknown, secret?: string) =>
      fetch(`http://127.0.0.1:${port}/tg`, { method: "POST", headers: { "content-type": "application/json", ...(secret ? { "x-telegram-bot-api-secret-token": secret } : {}) }, body: JSON.stringify(body) });
    const forged = await post(update(1), "wrong");
    expect(forged.status).to.equal(403);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(h.delivered).to.deep.equal([]);
    h.api.issueCallbackQuery("wh-2");
    const real = await post(update(2), "s3cret-token");
    expect(real.status).to.equal(200);
    await h.api.waitFor(() => h.api.answeredCallbacks.find((a) => a.callbackQueryId === "wh-2"), 5000);
    expect(h.delivered.map((a) => a.answer)).to.deep.equal([Answer.BLOCK_IP]);
  });
});

describe("telegram send queue under pressure", function () {
  this.timeout(60_000);
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it("waits out HTTP 429 retry_after and loses nothing", async () => {
    h = await startHarness({ chats: [{ id: CHAT }] });
    await h.connectAgent();
    h.api.failNext(2, { retryAfter: 2 });
    const started = Date.now();
    const alerts = [sampleAlert(AlertKind.SSH_SESSION), sampleAlert(AlertKind.HTTP_404_BURST), sampleAlert(AlertKind.CPU_SUSTAINED)];
    for (const alert of alerts) await h.raise(alert);
    await h.api.waitFor(() => h.api.messagesIn(CHAT).length === 3, 15_000);
    const limited = h.api.calls.filter((c) => c.status === 429);
    expect(limited).to.have.length(2);
    // No send was tried again before retry_after had passed.
    const firstOk = h.api.calls.find((c) => c.method === "sendMessage" && c.status === 200)!;
    expect(firstOk.at - limited[0]!.at).to.be.at.least(1_900);
    expect(Date.now() - started).to.be.at.least(1_900);
    const texts = h.api.messagesIn(CHAT).map((m) => m.text);
    expect(texts.filter((t) => t.includes("New SSH login"))).to.have.length(1);
    expect(texts.filter((t) => t.includes("185 HTTP 404s"))).to.have.length(1);
    expect(texts.filter((t) => t.includes("CPU at 93 %"))).to.have.length(1);
  });

  it("1,000 alerts in 10 s: a bounded number of messages at Telegram's pace, every alert reachable", async function () {
    // Raising 1,000 alerts through SQLite takes far longer on a loaded machine; the bounds below scale with the time taken.
    this.timeout(150_000);
    h = await startHarness({ chats: [{ id: CHAT }, { id: -100200 }], pace: {} });
    await h.connectAgent("web-1");
    await h.connectAgent("db-1");
    const total = 1000;
    const started = Date.now();
    for (let i = 0; i < total; i++) {
      const kind = i % 20 === 5 ? AlertKind.SSH_SESSION : AlertKind.HTTP_404_BURST;
      await h.raise(sampleAlert(kind), i % 10 === 0 ? "db-1" : "web-1");
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Everything is accounted for in each chat: own messages plus digest counts.
    const accounted = (chatId: number) => {
      let n = 0;
      for (const m of h.api.messagesIn(chatId)) {
        if (m.text.startsWith("📦")) for (const match of m.text.matchAll(/📦 (\d+) new alerts from/g)) n += Number(match[1]);
        else if (m.text.includes("Server: <b>")) n += 1;
      }
      return n;
    };
    await h.api.waitFor(() => accounted(CHAT) === total && accounted(-100200) === total, 90_000);
    const elapsed = Date.now() - started;
    for (const chatId of [CHAT, -100200]) {
      const sends = h.api.calls.filter((c) => c.method === "sendMessage" && c.status === 200 && Number(c.params.chat_id) === chatId).map((c) => c.at);
      // Bounded: about one message per second per chat at most, far fewer than the alerts.
      expect(sends.length).to.be.at.most(Math.ceil(elapsed / 1000) + 2);
      for (let i = 1; i < sends.length; i++) expect(sends[i]! - sends[i - 1]!, `chat ${chatId} gap ${i}`).to.be.at.least(990);
      if (chatId < 0) for (let i = 20; i < sends.length; i++) expect(sends[i]! - sends[i - 20]!).to.be.at.least(59_000);
      expect(h.api.messagesIn(chatId).some((m) => /📦 \d+ new alerts from <b>web-1<\/b>: \d+ × HTTP 404 burst, \d+ × SSH login — \/alerts/.test(m.text))).to.equal(true);
    }
    // /alerts reaches every open alert, page by page.
    h.api.sendCommand(CHAT, OPERATOR, "/alerts");
    const page = await firstMessage(h.api, CHAT, `Open alerts (${total}):`);
    expect(page.text.split("\n").filter((line) => line.includes("<code>"))).to.have.length(20);
    const more = page.replyMarkup!.inline_keyboard.flat().find((b) => b.text === "More ➡️")!;
    expect(decodeCallback(more.callback_data)).to.deep.equal({ type: "alerts", offset: 20 });
  });
});
