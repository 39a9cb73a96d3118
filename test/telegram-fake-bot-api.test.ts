import { expect } from "chai";
import { Telegraf, TelegramError } from "telegraf";
import { createFakeBotApi, type FakeBotApi } from "../testing/fake-bot-api.js";

describe("fake Bot API", function () {
  this.timeout(10_000);
  let api: FakeBotApi;
  beforeEach(async () => {
    api = createFakeBotApi();
    await api.start();
  });
  afterEach(async () => {
    await api.stop();
  });

  function client(token = api.token) {
    return new Telegraf(token, { telegram: { apiRoot: api.apiRoot } }).telegram;
  }

  it("serves telegraf: getMe, sendMessage, edits, setMyCommands, deleteMessage", async () => {
    const tg = client();
    expect((await tg.getMe()).username).to.equal("secarc_test_bot");
    const sent = await tg.sendMessage(5, "<b>hi</b> &amp; bye", { parse_mode: "HTML", reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "1|x|a" }]] } });
    expect(sent.message_id).to.equal(1);
    await tg.editMessageText(5, sent.message_id, undefined, "edited", { reply_markup: { inline_keyboard: [] } });
    expect(api.message(5, 1)).to.deep.include({ text: "edited", replyMarkup: undefined });
    expect(api.message(5, 1)!.history).to.deep.equal(["<b>hi</b> &amp; bye", "edited"]);
    await tg.editMessageReplyMarkup(5, 1, undefined, { inline_keyboard: [[{ text: "B", callback_data: "b" }]] });
    expect(api.message(5, 1)!.replyMarkup!.inline_keyboard[0]![0]!.text).to.equal("B");
    await tg.setMyCommands([{ command: "status", description: "s" }]);
    expect(api.commands).to.deep.equal([{ command: "status", description: "s" }]);
    await tg.deleteMessage(5, 1);
    expect(api.messagesIn(5)).to.deep.equal([]);
  });

  it("refuses what Telegram refuses: bad HTML, long texts, long callback data, unchanged edits, wrong token", async () => {
    const tg = client();
    const refused = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return err as TelegramError;
      }
      throw new Error("not refused");
    };
    expect((await refused(tg.sendMessage(5, "a < b", { parse_mode: "HTML" }))).code).to.equal(400);
    expect((await refused(tg.sendMessage(5, "<b>open", { parse_mode: "HTML" }))).description).to.match(/can't parse entities/);
    expect((await refused(tg.sendMessage(5, "x".repeat(4097)))).description).to.match(/too long/);
    expect((await refused(tg.sendMessage(5, "x", { reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "y".repeat(65) }]] } }))).description).to.match(/BUTTON_DATA_INVALID/);
    await tg.sendMessage(5, "same");
    expect((await refused(tg.editMessageText(5, 1, undefined, "same"))).description).to.match(/not modified/);
    expect((await refused(tg.editMessageText(5, 99, undefined, "x"))).description).to.match(/not found/);
    expect((await refused(client("1:wrong").getMe())).code).to.equal(401);
  });

  it("the strict checker refuses what Telegram refuses, with its descriptions: UTF-8, entities, lengths, callback data, popups", async () => {
    const tg = client();
    const refused = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return (err as TelegramError).description;
      }
      throw new Error("not refused");
    };
    const html = { parse_mode: "HTML" as const };
    // Half of a 4-byte emoji (a lone surrogate) and raw bytes that are not UTF-8.
    expect(await refused(tg.sendMessage(5, `/a${"😀".slice(0, 1)}`))).to.equal("Bad Request: text must be encoded in UTF-8");
    const raw = await fetch(`${api.apiRoot}/bot${api.token}/sendMessage`, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.concat([Buffer.from('{"chat_id":5,"text":"a'), Buffer.from([0xf0, 0x9f]), Buffer.from('"}')]) });
    expect(((await raw.json()) as { description: string }).description).to.equal("Bad Request: text must be encoded in UTF-8");
    expect(await refused(tg.sendMessage(5, "x<b&y", html))).to.equal("Bad Request: can't parse entities: Unclosed start tag at byte offset 1");
    expect(await refused(tg.sendMessage(5, "😀 & more", html))).to.equal("Bad Request: can't parse entities: Character entity expected at byte offset 5");
    expect(await refused(tg.sendMessage(5, "<b>x</i>", html))).to.match(/Unmatched end tag at byte offset 4/);
    expect(await refused(tg.sendMessage(5, "x</b>", html))).to.equal("Bad Request: can't parse entities: Unexpected end tag at byte offset 1");
    expect(await refused(tg.sendMessage(5, "<script>x</script>", html))).to.match(/Unsupported start tag "script"/);
    expect(await refused(tg.sendMessage(5, "<b></b>", html))).to.equal("Bad Request: message text is empty");
    // 4096 characters after entity parsing is the limit: tags do not count, entities count once.
    expect((await tg.sendMessage(5, `<b>${"&amp;".repeat(4096)}</b>`, html)).message_id).to.be.a("number");
    expect(await refused(tg.sendMessage(5, "&amp;".repeat(4097), html))).to.equal("Bad Request: message is too long");
    expect(await refused(tg.sendMessage(5, "x", { reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "" }]] } }))).to.equal("Bad Request: BUTTON_DATA_INVALID");
    expect(await refused(tg.sendMessage(5, "x", { reply_markup: { inline_keyboard: [[{ text: "A" } as never]] } }))).to.match(/Text buttons are unallowed/);
    expect((await tg.sendMessage(5, "x", { reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "é".repeat(32) }]] } })).message_id).to.be.a("number");
    expect(await refused(tg.sendMessage(5, "x", { reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "é".repeat(32) + "x" }]] } }))).to.equal("Bad Request: BUTTON_DATA_INVALID");
    const id = api.tapButton(5, 1, "1|x|abc", { id: 7 });
    expect(await refused(tg.answerCbQuery(id, "x".repeat(201)))).to.equal("Bad Request: MESSAGE_TOO_LONG");
    expect(await tg.answerCbQuery(id, "x".repeat(200))).to.equal(true);
    expect(await refused(tg.answerCbQuery("never-issued", "x"))).to.match(/query ID is invalid/);
  });

  it("answers 429 with retry_after for the next N sends only", async () => {
    const tg = client();
    api.failNext(2, { retryAfter: 3 });
    for (let i = 0; i < 2; i++) {
      const err = await tg.sendMessage(5, "x").catch((e: unknown) => e as TelegramError);
      expect(err).to.be.instanceOf(TelegramError);
      expect((err as TelegramError).code).to.equal(429);
      expect((err as TelegramError).parameters?.retry_after).to.equal(3);
    }
    await tg.getMe();
    expect((await tg.sendMessage(5, "x")).message_id).to.equal(1);
  });

  it("long-polls getUpdates, honouring offset and timeout", async () => {
    const tg = client();
    const started = Date.now();
    expect(await tg.callApi("getUpdates", { timeout: 1, offset: 0 })).to.deep.equal([]);
    expect(Date.now() - started).to.be.at.least(900);
    const waiting = tg.callApi("getUpdates", { timeout: 5, offset: 0 });
    setTimeout(() => api.sendCommand(5, { id: 7, username: "op" }, "/status"), 100);
    const updates = await waiting;
    expect(updates).to.have.length(1);
    const first = updates[0]!;
    expect((first as { message: { text: string; entities: unknown[] } }).message.text).to.equal("/status");
    const tap = api.tapButton(5, 1, "1|x|abc", { id: 7 });
    const next = await tg.callApi("getUpdates", { timeout: 0, offset: first.update_id + 1 });
    expect(next.map((u) => (u as { callback_query: { id: string } }).callback_query.id)).to.deep.equal([tap]);
    // Confirmed updates are gone.
    expect(await tg.callApi("getUpdates", { timeout: 0, offset: next[0]!.update_id + 1 })).to.deep.equal([]);
    await tg.answerCbQuery(tap, "ok");
    expect(api.answeredCallbacks).to.deep.equal([{ callbackQueryId: tap, text: "ok", showAlert: false }]);
  });
});
