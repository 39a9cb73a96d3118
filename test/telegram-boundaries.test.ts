import { expect } from "chai";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import { encodeCallback } from "../controller/telegram/callback-data.js";
import { button, CHAT, firstMessage, OPERATOR, startHarness, STRANGER, type Harness } from "./support/telegram-harness.js";

const UNCONFIGURED = -100300;

/** Lets the bridge handle what was pushed (a bounded wait; the checks after it are what matters). */
const settle = (ms = 600) => new Promise((resolve) => setTimeout(resolve, ms));

describe("telegram boundaries: chats, strangers, hostile data", function () {
  this.timeout(30_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it("in a chat that is not configured nothing is answered, shown or carried out, even for an allowed user", async () => {
    h = await startHarness();
    await h.connectAgent();
    const record = (await h.raise(sampleAlert(AlertKind.HTTP_404_BURST)));
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    for (const command of ["/alerts", "/status", "/blocks", "/allows", "/help"]) h.api.sendCommand(UNCONFIGURED, OPERATOR, command);
    const show = h.api.tapButton(UNCONFIGURED, 1, encodeCallback({ type: "open", alertId: record.alertId })!, OPERATOR);
    const block = h.api.tapButton(UNCONFIGURED, message.messageId, button(message, "Block IP"), OPERATOR);
    const popup = await h.api.waitFor(() => h!.api.answeredCallbacks.find((a) => a.callbackQueryId === block), 5000);
    expect(popup.text).to.equal("This chat is not configured for SecARC; nothing was done.");
    expect(h.api.answeredCallbacks.find((a) => a.callbackQueryId === show)?.text).to.equal(popup.text);
    await settle();
    expect(h.api.calls.filter((c) => ["sendMessage", "editMessageText", "editMessageReplyMarkup"].includes(c.method) && Number(c.params.chat_id) === UNCONFIGURED)).to.deep.equal([]);
    expect(h.delivered).to.deep.equal([]);
    // One audit entry for the burst.
    expect((await h.store.listAudit(20)).filter((a) => a.event === "telegram.chat_refused")).to.have.length(1);
  });

  it("a stranger's 60 /help get one reply and one audit entry (a burst), through the send queue", async () => {
    h = await startHarness();
    for (let i = 0; i < 60; i++) h.api.sendCommand(CHAT, STRANGER, "/help");
    await h.api.waitFor(() => h!.api.messagesIn(CHAT).find((m) => m.text === "You are not allowed to do this."), 5000);
    await settle(1000);
    expect(h.api.messagesIn(CHAT).filter((m) => m.text === "You are not allowed to do this.")).to.have.length(1);
    const audit = (await h.store.listAudit(100)).filter((a) => a.event === "telegram.refused");
    expect(audit).to.have.length(1);
  });

  it("forged paging data (1|p|999999) is refused; nothing is sent", async () => {
    h = await startHarness();
    await h.connectAgent();
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    await firstMessage(h.api, CHAT, "185 HTTP 404s");
    const before = h.api.messagesIn(CHAT).length;
    const tap = h.api.tapButton(CHAT, 1, "1|p|999999", OPERATOR);
    const popup = await h.api.waitFor(() => h!.api.answeredCallbacks.find((a) => a.callbackQueryId === tap), 5000);
    expect(popup.text).to.equal("This button is not valid.");
    await settle();
    expect(h.api.messagesIn(CHAT)).to.have.length(before);
  });

  it("/alerts with an alert whose id carries < and & and a path of 4-byte emoji is accepted by the strict checker", async () => {
    h = await startHarness();
    await h.connectAgent();
    const alert = sampleAlert(AlertKind.HTTP_404_BURST, { id: `${Date.now()}-x<y&z` });
    if (alert.subject.case === "httpErrors") alert.subject.value.recentPaths = [`/a${"😀".repeat(40)}`];
    await h.raise(alert);
    await firstMessage(h.api, CHAT, "185 HTTP 404s");
    h.api.sendCommand(CHAT, OPERATOR, "/alerts");
    const list = await h.api.waitFor(() => h!.api.messagesIn(CHAT).find((m) => m.text.startsWith("Open alerts")), 5000);
    expect(list.text).to.include("😀…").and.include("x&lt;y&amp;z</code>");
    expect(h.api.calls.filter((c) => c.status !== 200 && c.method !== "getUpdates")).to.deep.equal([]);
  });
});
