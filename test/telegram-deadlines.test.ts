import { expect } from "chai";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import { captureLog } from "./support/controller-harness.js";
import { button, CHAT, CHAT_ES, firstMessage, OPERATOR, startHarness, type Harness } from "./support/telegram-harness.js";

/** The line under an alert sent again after a send that got no answer (en). */
const SENT_AGAIN = "↻ Sent again: an earlier send got no answer, so a copy of this alert may be just above.";

describe("telegram calls have deadlines; a refused chat waits", function () {
  this.timeout(40_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it("a sendMessage that hangs in one chat: the other chat's message arrives within 2 s; the held chat's after the deadline, and the recovery is logged", async () => {
    const log = captureLog();
    h = await startHarness({ callTimeout: { send: "3s" } }, undefined, log.logger);
    await h.connectAgent();
    const held = h.api.hold({ methods: ["sendMessage"], chatId: CHAT });
    const raisedAt = Date.now();
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    await held.arrived;
    const other = await firstMessage(h.api, CHAT_ES, "185");
    expect(other.sentAt - raisedAt).to.be.below(2_000);
    expect(h.api.messagesIn(CHAT)).to.deep.equal([]);
    // The held call is given up after 3 s and retried: the alert shows in the held chat too, said to be a possible
    // repeat (the held call may yet be carried out); the chat that answered in time is not.
    const mine = await h.api.waitFor(() => h!.api.messagesIn(CHAT).find((m) => m.text.includes("185 HTTP 404s")), 15_000);
    expect(mine.sentAt - raisedAt).to.be.at.least(2_900);
    expect(mine.text).to.include(SENT_AGAIN);
    expect(other.text).not.to.include(SENT_AGAIN);
    for (let i = 0; i < 100 && log.matching("succeeded after 1 failed attempt").length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(log.matching("succeeded after 1 failed attempt")).to.have.length(1);
    expect(held.held()).to.equal(1);
    held.release();
  });

  it("a sendMessage carried out whose answer never comes: the retry after the deadline is the one repeat, marked, and its later edits keep the mark", async () => {
    h = await startHarness({ callTimeout: { send: "2s" } });
    await h.connectAgent();
    const held = h.api.hold({ methods: ["sendMessage"], chatId: CHAT, deliverFirst: true });
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    await held.arrived;
    const copies = await h.api.waitFor(() => (h!.api.messagesIn(CHAT).length === 2 ? h!.api.messagesIn(CHAT) : undefined), 15_000);
    expect(copies.map((m) => m.text.includes(SENT_AGAIN))).to.deep.equal([false, true]);
    expect((await firstMessage(h.api, CHAT_ES, "185")).text).not.to.include(SENT_AGAIN);
    // The repeat is the message on record: a tap there edits it, and the edit still says a copy may be above.
    const repeat = copies[1]!;
    h.api.tapButton(CHAT, repeat.messageId, button(repeat, "Ignore"), OPERATOR);
    await h.api.waitFor(() => repeat.history.length > 1 || undefined, 5_000);
    expect(repeat.text).to.include("Ignore").and.include(SENT_AGAIN);
    expect(repeat.text.endsWith(`<i>${SENT_AGAIN}</i>`), repeat.text).to.equal(true);
    expect(copies[0]!.history).to.have.length(1);
    held.release();
  });

  it("a send Telegram refused (429) is retried unmarked; one answered 502 (a proxy may answer after the backend acted) is retried marked", async () => {
    h = await startHarness({});
    await h.connectAgent();
    h.api.failNext(1, { methods: ["sendMessage"], chatId: CHAT, errorCode: 429, retryAfter: 1 });
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    const paced = await h.api.waitFor(() => h!.api.messagesIn(CHAT).find((m) => m.text.includes("185 HTTP 404s")), 10_000);
    expect(paced.text).not.to.include(SENT_AGAIN);
    h.api.failNext(1, { methods: ["sendMessage"], chatId: CHAT, errorCode: 502, description: "Bad Gateway" });
    await h.raise(sampleAlert(AlertKind.SSH_SESSION));
    const unsure = await h.api.waitFor(() => h!.api.messagesIn(CHAT).find((m) => m.text.includes("alice")), 10_000);
    expect(h.api.calls.filter((c) => c.status === 429 || c.status === 502).map((c) => c.status)).to.deep.equal([429, 502]);
    expect(unsure.text).to.include(SENT_AGAIN);
    expect(h.api.messagesIn(CHAT)).to.have.length(2);
  });

  it("a hanging answerCallbackQuery does not stop update handling", async () => {
    h = await startHarness({ callTimeout: { answer: "20s" } });
    await h.connectAgent();
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    const message = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    const held = h.api.hold({ methods: ["answerCallbackQuery"] });
    h.api.tapButton(CHAT, message.messageId, button(message, "Ignore"), OPERATOR);
    await held.arrived;
    const askedAt = Date.now();
    h.api.sendCommand(CHAT, OPERATOR, "/status");
    const status = await h.api.waitFor(() => h!.api.messagesIn(CHAT).find((m) => m.text.startsWith("Servers")), 5_000);
    expect(status.sentAt - askedAt).to.be.below(2_000);
    held.release();
  });

  it("403 from one chat parks it (kept, said in /status, not 'sends failing'); /start there resumes it", async () => {
    const log = captureLog();
    h = await startHarness({}, undefined, log.logger);
    await h.connectAgent();
    h.api.failNext(1, { methods: ["sendMessage"], chatId: CHAT_ES, errorCode: 403, description: "Forbidden: bot was blocked by the user" });
    await h.raise(sampleAlert(AlertKind.SSH_SESSION));
    await firstMessage(h.api, CHAT, "alice");
    await h.api.waitFor(() => h!.api.calls.find((c) => c.status === 403), 5_000);
    h.api.sendCommand(CHAT, OPERATOR, "/status");
    const status = await h.api.waitFor(() => h!.api.messagesIn(CHAT).find((m) => m.text.includes("⏸")), 5_000);
    expect(status.text).to.include(`Messages to chat ${CHAT_ES} wait since`).and.include("bot was blocked by the user");
    expect(status.text).not.to.include("sends failing");
    expect(h.bridge.sendHealth().failing).to.equal(false);
    expect(log.matching(`chat ${CHAT_ES} refused by Telegram`)).to.have.length(1);
    expect(h.api.messagesIn(CHAT_ES)).to.deep.equal([]);
    h.api.sendCommand(CHAT_ES, OPERATOR, "/start");
    await firstMessage(h.api, CHAT_ES, "alice");
    expect(log.matching(`chat ${CHAT_ES} reachable again`)).to.have.length(1);
  });
});
