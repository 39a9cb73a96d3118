import Database from "better-sqlite3";
import { expect } from "chai";
import { createSqliteGate } from "./sqlite-gate.js";
import { createSqliteTelegramStore } from "./sqlite-telegram.js";
import { Priority } from "./telegram-store.js";

describe("telegram message store (SQLite)", () => {
  function open() {
    const db = new Database(":memory:");
    return { db, messages: createSqliteTelegramStore(db, createSqliteGate(db)) };
  }

  it("keeps one job per alert and chat, with the most urgent priority, and knows it was re-queued", async () => {
    const { messages } = open();
    await messages.enqueueAlert(1, "a", Priority.fresh, 10);
    const [job] = await messages.listDue(10, 10);
    await messages.enqueueAlert(1, "a", Priority.interactive, 11);
    await messages.enqueueAlert(1, "a", Priority.update, 12);
    expect(await messages.depth()).to.equal(1);
    const [again] = await messages.listDue(12, 10);
    expect(again!.priority).to.equal(Priority.interactive);
    // A render that read the job before it was re-queued does not remove it.
    expect(await messages.complete(job!)).to.equal(false);
    expect(await messages.complete(again!)).to.equal(true);
    expect(await messages.depth()).to.equal(0);
  });

  it("offers the head job of every chat, and honours not_before", async () => {
    const { messages } = open();
    for (let i = 0; i < 5; i++) await messages.enqueueAlert(1, `a${i}`, Priority.fresh, i);
    await messages.enqueueAlert(2, "b", Priority.fresh, 9);
    await messages.enqueueText(1, { text: "reply" }, Priority.interactive, 10);
    const due = await messages.listDue(100, 10);
    expect(due.map((j) => [j.chatId, j.alertId ?? j.payload?.text])).to.deep.equal([
      [1, "reply"],
      [2, "b"],
    ]);
    await messages.postpone(due[0]!.id, 500);
    expect((await messages.listDue(100, 10)).map((j) => j.alertId)).to.deep.equal(["a0", "b"]);
    expect(await messages.nextNotBefore()).to.equal(0);
  });

  it("lists fresh jobs of alerts not yet shown (neither own message nor digest)", async () => {
    const { messages } = open();
    for (const id of ["a", "b", "c"]) await messages.enqueueAlert(1, id, Priority.fresh, 1);
    await messages.saveRendered({ alertId: "b", chatId: 1, messageId: 7, renderedVersion: 1, renderedPhase: "open", renderedHash: "h", firstSeverity: 2, renderedAt: 1 });
    await messages.saveRendered({ alertId: "c", chatId: 1, messageId: undefined, digestMessageId: 8, renderedVersion: 1, renderedPhase: "digest:open", renderedHash: undefined, firstSeverity: 2, renderedAt: 1 });
    expect((await messages.listFresh(1, 10, 10)).map((j) => j.alertId)).to.deep.equal(["a"]);
  });

  it("remembers what each message shows; the first severity sticks", async () => {
    const { messages } = open();
    await messages.saveRendered({ alertId: "a", chatId: -5, messageId: 3, renderedVersion: 1, renderedPhase: "open", renderedHash: "h1", firstSeverity: 2, renderedAt: 100 });
    await messages.saveRendered({ alertId: "a", chatId: -5, messageId: 3, renderedVersion: 4, renderedPhase: "answered:done", renderedHash: "h2", firstSeverity: 3, renderedAt: 200 });
    expect(await messages.getMessage("a", -5)).to.deep.include({ messageId: 3, renderedVersion: 4, renderedPhase: "answered:done", renderedHash: "h2", firstSeverity: 2 });
    expect((await messages.findByMessage(-5, 3))?.alertId).to.equal("a");
    await messages.invalidate("a", -5);
    expect((await messages.getMessage("a", -5))?.renderedHash).to.equal(undefined);
  });

  it("on start, rescans live rows of any age and other rows only if recent", async () => {
    const { messages } = open();
    const row = (alertId: string, renderedPhase: string, renderedAt: number) =>
      messages.saveRendered({ alertId, chatId: 1, messageId: 1, renderedVersion: 1, renderedPhase, renderedHash: "h", firstSeverity: 1, renderedAt });
    await row("old-open", "open", 10);
    await row("old-queued", "answered:queued", 10);
    await row("old-done", "answered:done", 10);
    await row("old-digest", "digest:open", 10);
    await row("new-resolved", "resolved", 1_000);
    expect((await messages.listRecentRows(500)).map((r) => r.alertId).sort()).to.deep.equal(["new-resolved", "old-open", "old-queued"]);
  });

  it("migrates once: reopening the same database keeps the rows", async () => {
    const { db, messages } = open();
    await messages.enqueueText(1, { text: "x" }, Priority.fresh, 1);
    const again = createSqliteTelegramStore(db, createSqliteGate(db));
    expect((await again.depth())).to.equal(1);
  });
});
