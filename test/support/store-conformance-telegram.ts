import { expect } from "chai";
import type { Store } from "../../controller/store/store.js";
import { Priority, type ListLine, type MessageRow, type RenderedRow } from "../../controller/store/telegram-store.js";
import type { StoreHarness } from "./store-conformance.js";

// What the Telegram bridge relies on from `store.telegram` (send queue, message ids, tracked actions, list taps, fleet summaries).

const T0 = 1_700_000_000_000;
/** A supergroup's chat id: negative and past 2^31, as Telegram's are. */
const GROUP = -1001234567890;
const DAY = 24 * 3_600_000;

const rendered = (alertId: string, chatId: number, extra: Partial<RenderedRow> = {}): RenderedRow => ({
  alertId,
  chatId,
  messageId: 10,
  renderedVersion: 1,
  renderedPhase: "open",
  renderedHash: "h1",
  firstSeverity: 2,
  renderedAt: T0,
  ...extra,
});

const line = (actionId: string, createdAt: number, messageId = 7): ListLine => ({
  actionId,
  chatId: GROUP,
  messageId,
  tapped: `u:${actionId}`,
  baseHtml: "<b>Blocks</b>",
  keyboard: [[{ text: "Unblock 1", callback_data: `u:${actionId}` }]],
  createdAt,
});

export function telegramCases(s: () => Store, h: () => StoreHarness): void {
  messageCases(s);
  queueCases(s, h);
  trackedCases(s);
  transactionCases(s, h);
}

function messageCases(s: () => Store): void {
  it("telegram messages: saved per alert and chat, found by message id; a digest id and the first severity, once set, are kept", async () => {
    const t = s().telegram;
    expect(await t.getMessage("a1", GROUP)).to.equal(undefined);
    await t.saveRendered(rendered("a1", GROUP, { messageId: undefined, digestMessageId: 99, firstSeverity: 3 }));
    await t.saveRendered(rendered("a1", GROUP, { messageId: 2_200_000_000, renderedVersion: 4, renderedPhase: "answered:sent", renderedHash: "h2", firstSeverity: 1, renderedAt: T0 + 5 }));
    const row = { alertId: "a1", chatId: GROUP, messageId: 2_200_000_000, digestMessageId: 99, renderedVersion: 4, renderedPhase: "answered:sent", renderedHash: "h2", firstSeverity: 3, renderedAt: T0 + 5, sentAgain: false };
    expect(await t.getMessage("a1", GROUP)).to.deep.equal(row);
    expect(await t.findByMessage(GROUP, 2_200_000_000)).to.deep.equal(row);
    expect(await t.findByMessage(42, 2_200_000_000)).to.equal(undefined);
    await t.invalidate("a1", GROUP);
    expect((await t.getMessage("a1", GROUP))?.renderedHash).to.equal(undefined);
  });

  it("telegram messages: the sent-again mark is kept by saves that leave it out, and changed by saves that give it", async () => {
    const t = s().telegram;
    await t.saveRendered(rendered("a1", GROUP, { sentAgain: true }));
    await t.saveRendered(rendered("a1", GROUP, { renderedVersion: 2 }));
    expect(await t.getMessage("a1", GROUP)).to.deep.include({ renderedVersion: 2, sentAgain: true });
    await t.saveRendered(rendered("a1", GROUP, { messageId: 11, sentAgain: false }));
    expect(await t.getMessage("a1", GROUP)).to.deep.include({ messageId: 11, sentAgain: false });
    await t.saveRendered(rendered("a2", GROUP));
    expect((await t.getMessage("a2", GROUP))?.sentAgain).to.equal(false);
  });

  it("telegram messages: chats showing an alert (with a message), live or recent rows, open rows to expire", async () => {
    const t = s().telegram;
    await t.saveRendered(rendered("a1", GROUP));
    await t.saveRendered(rendered("a1", 42, { messageId: undefined }));
    await t.saveRendered(rendered("a1", 43, { renderedPhase: "answered:done", renderedAt: T0 - DAY }));
    await t.saveRendered(rendered("a2", 42, { renderedPhase: "expired", renderedAt: T0 + 1000 }));
    await t.saveRendered(rendered("a3", 42, { renderedPhase: "answered:queued", renderedAt: T0 - DAY }));
    expect((await t.chatsShowing("a1")).sort((x, y) => x - y)).to.deep.equal([GROUP, 43]);
    const key = (r: MessageRow) => `${r.alertId}/${r.chatId}`;
    expect((await t.listRecentRows(T0 + 1)).map(key).sort()).to.deep.equal(["a1/-1001234567890", "a1/42", "a2/42", "a3/42"]);
    expect((await t.listOpenRenderedBefore(T0 + 1)).map(key)).to.deep.equal(["a1/-1001234567890"]);
    expect(await t.listOpenRenderedBefore(T0)).to.deep.equal([]);
  });

  it("telegram lists and fleet summaries: a tap's line once, in tap order, old ones forgotten; a chat follows a fleet block once", async () => {
    const t = s().telegram;
    await t.addListLine(line("x1", T0));
    await t.addListLine({ ...line("x1", T0 + 1), tapped: "other" });
    await t.addListLine(line("x2", T0 + 2));
    await t.addListLine(line("x3", T0 + 3, 8));
    expect(await t.listLineOf("x1")).to.deep.equal(line("x1", T0));
    expect((await t.listLinesOfMessage(GROUP, 7)).map((l) => l.actionId)).to.deep.equal(["x1", "x2"]);
    await t.addListLine(line("x4", T0 + 30 * DAY + 3));
    expect(await t.listLineOf("x2"), "older than 30 days").to.equal(undefined);
    expect((await t.listLinesOfMessage(GROUP, 8)).map((l) => l.actionId)).to.deep.equal(["x3"]);

    await t.followFleet({ fleetId: "f1", chatId: 42, alertId: "a1" });
    await t.followFleet({ fleetId: "f1", chatId: GROUP, alertId: undefined });
    await t.saveFleetSent("f1", 42, 5, "h");
    await t.followFleet({ fleetId: "f1", chatId: 42, alertId: "a9" });
    expect(await t.fleetChats("f1")).to.deep.equal([GROUP, 42]);
    expect(await t.getFleetMessage("f1", 42)).to.deep.equal({ fleetId: "f1", chatId: 42, alertId: "a1", messageId: 5, renderedHash: "h" });
    expect(await t.getFleetMessage("f1", GROUP)).to.deep.equal({ fleetId: "f1", chatId: GROUP, alertId: undefined, messageId: undefined, renderedHash: undefined });
    expect([await t.fleetAnswersAlert("a1"), await t.fleetAnswersAlert("a9")]).to.deep.equal([true, false]);
  });
}

function queueCases(s: () => Store, h: () => StoreHarness): void {
  it("telegram queue: the most urgent due job of each chat, most urgent first; re-queueing keeps the higher priority and bumps seq", async () => {
    const t = s().telegram;
    await t.enqueueAlert(GROUP, "a1", Priority.fresh, T0);
    await t.enqueueAlert(GROUP, "a2", Priority.update, T0);
    await t.enqueueAlert(42, "a3", Priority.fresh, T0);
    await t.enqueueText(43, { text: "hi", keyboard: [[{ text: "b", callback_data: "c" }]], threadId: 5 }, Priority.interactive, T0);
    const due = await t.listDue(T0, 10);
    expect(due.map((j) => [j.chatId, j.alertId ?? j.payload?.text])).to.deep.equal([[43, "hi"], [GROUP, "a2"], [42, "a3"]]);
    expect(due[0]).to.deep.include({ payload: { text: "hi", keyboard: [[{ text: "b", callback_data: "c" }]], threadId: 5 }, attempts: 0, seq: 0, sendingSince: undefined, enqueuedAt: T0, notBefore: 0 });
    expect(await t.listDue(T0, 1)).to.have.length(1);
    const before = due.find((j) => j.alertId === "a3")!;
    await t.enqueueAlert(42, "a3", Priority.interactive, T0 + 1);
    await t.enqueueAlert(42, "a3", Priority.fresh, T0 + 2);
    const after = (await t.listDue(T0, 10)).find((j) => j.alertId === "a3")!;
    expect([after.id, after.priority, after.seq, after.enqueuedAt]).to.deep.equal([before.id, Priority.interactive, 2, T0]);
    expect(await t.complete(before), "re-queued since it was read").to.equal(false);
    expect(await t.complete(after)).to.equal(true);
    expect(await t.depth()).to.equal(3);
  });

  it("telegram queue: postponed jobs wait (attempts counted, the in-flight mark cleared unless the call may have been carried out); fresh jobs of a chat are those not shown yet", async () => {
    const t = s().telegram;
    expect(await t.nextNotBefore()).to.equal(undefined);
    for (const id of ["a1", "a2", "a3"]) await t.enqueueAlert(GROUP, id, Priority.fresh, T0);
    const [first] = await t.listDue(T0, 10);
    await t.markSending(first!.id, T0 + 1);
    expect((await t.listDue(T0, 10))[0]?.sendingSince).to.equal(T0 + 1);
    // A call that may have been carried out keeps the mark through its postponement; one refused clears it.
    await t.postpone(first!.id, T0 + 30_000, { keepInFlightMark: true });
    expect((await t.listFresh(GROUP, T0 + 30_000, 10)).find((j) => j.id === first!.id)).to.deep.include({ attempts: 1, notBefore: T0 + 30_000, sendingSince: T0 + 1 });
    await t.postpone(first!.id, T0 + 60_000);
    const waiting = await t.listFresh(GROUP, T0 + 60_000, 10);
    expect(waiting.find((j) => j.id === first!.id)).to.deep.include({ attempts: 2, notBefore: T0 + 60_000, sendingSince: undefined });
    expect((await t.listDue(T0, 10))[0]?.alertId).to.equal("a2");
    expect(await t.nextNotBefore()).to.equal(0);
    await t.saveRendered(rendered("a2", GROUP));
    await t.saveRendered(rendered("a3", GROUP, { messageId: undefined }));
    expect((await t.listFresh(GROUP, T0, 10)).map((j) => j.alertId)).to.deep.equal(["a3"]);
    expect((await t.listFresh(GROUP, T0 + 60_000, 1)).map((j) => j.alertId)).to.deep.equal(["a1"]);
    await t.drop(first!.id);
    expect(await t.depth()).to.equal(2);
  });

  it("telegram queue: of two handles claiming the same due job, exactly one wins; a mark left by a crash is claimed again once", async () => {
    const other = await h().sibling(s());
    await s().telegram.enqueueAlert(GROUP, "a1", Priority.fresh, T0);
    const [mine] = await s().telegram.listDue(T0, 10);
    const [theirs] = await other.telegram.listDue(T0, 10);
    const won = await Promise.all([s().telegram.claimSend(mine!, T0 + 1), other.telegram.claimSend(theirs!, T0 + 2)]);
    expect(won.filter(Boolean)).to.have.length(1);
    const [left] = await other.telegram.listDue(T0, 10);
    expect(left?.sendingSince).to.equal(won[0] ? T0 + 1 : T0 + 2);
    expect(await s().telegram.claimSend(mine!, T0 + 3), "read before the other's claim").to.equal(false);
    expect(await s().telegram.claimSend(left!, T0 + 4)).to.equal(true);
    expect(await other.telegram.claimSend(left!, T0 + 5)).to.equal(false);
  });
}

function trackedCases(s: () => Store): void {
  it("telegram tracked actions: each once, oldest first", async () => {
    const t = s().telegram;
    await t.trackAction({ actionId: "b", agentId: "web-1", answer: 2, ip: "198.51.100.7", createdAt: T0 + 2 });
    await t.trackAction({ actionId: "a", agentId: "web-1", answer: 3, ip: undefined, createdAt: T0 + 1 });
    await t.trackAction({ actionId: "b", agentId: "db-1", answer: 4, ip: "x", createdAt: T0 });
    expect(await t.listTrackedBlocks()).to.deep.equal([
      { actionId: "a", agentId: "web-1", answer: 3, ip: undefined, createdAt: T0 + 1 },
      { actionId: "b", agentId: "web-1", answer: 2, ip: "198.51.100.7", createdAt: T0 + 2 },
    ]);
  });
}

function transactionCases(s: () => Store, h: () => StoreHarness): void {
  it("telegram transaction: commits together, unseen by another handle before; a rejected one leaves nothing", async () => {
    const other = await h().sibling(s());
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const wrote = new Promise<void>((resolve) => (written = resolve));
    const running = s().telegram.transaction(async (tx) => {
      await tx.saveRendered(rendered("a1", GROUP));
      await tx.enqueueAlert(GROUP, "a1", Priority.update, T0);
      written();
      await held;
      return "done";
    });
    await wrote;
    expect(await other.telegram.getMessage("a1", GROUP), "not visible before the commit").to.equal(undefined);
    release();
    expect(await running).to.equal("done");
    expect([(await other.telegram.getMessage("a1", GROUP))?.messageId, await other.telegram.depth()]).to.deep.equal([10, 1]);
    const failed = await s()
      .telegram.transaction(async (tx) => {
        await tx.enqueueAlert(42, "a2", Priority.fresh, T0);
        await tx.trackAction({ actionId: "x", agentId: "a", answer: 1, ip: undefined, createdAt: T0 });
        throw new Error("stop");
      })
      .catch((err: unknown) => err);
    expect(String(failed)).to.include("stop");
    expect([await s().telegram.depth(), await s().telegram.listTrackedBlocks()]).to.deep.equal([1, []]);
  });

  it("telegram writes outside a Store transaction are not part of it: its rollback leaves them", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const open = new Promise<void>((resolve) => (started = resolve));
    const rolledBack = s()
      .transaction(async (tx) => {
        await tx.audit({ at: new Date(T0), actor: "t", event: "e", detail: "" });
        started();
        await held;
        throw new Error("undo");
      })
      .catch((err: unknown) => err);
    await open;
    const write = s().telegram.enqueueAlert(GROUP, "a1", Priority.fresh, T0);
    release();
    expect(String(await rolledBack)).to.include("undo");
    await write;
    expect([await s().telegram.depth(), await s().listAudit(10)]).to.deep.equal([1, []]);
  });
}
