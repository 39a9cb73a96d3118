import Database from "better-sqlite3";
import { expect } from "chai";
import { createMessageStore, Priority } from "./message-store.js";

describe("telegram message store", () => {
  function open() {
    const db = new Database(":memory:");
    return { db, messages: createMessageStore(db) };
  }

  it("keeps one job per alert and chat, with the most urgent priority, and knows it was re-queued", () => {
    const { messages } = open();
    messages.enqueueAlert(1, "a", Priority.fresh, 10);
    const [job] = messages.listDue(10, 10);
    messages.enqueueAlert(1, "a", Priority.interactive, 11);
    messages.enqueueAlert(1, "a", Priority.update, 12);
    expect(messages.depth()).to.equal(1);
    const [again] = messages.listDue(12, 10);
    expect(again!.priority).to.equal(Priority.interactive);
    // A render that read the job before it was re-queued does not remove it.
    expect(messages.complete(job!)).to.equal(false);
    expect(messages.complete(again!)).to.equal(true);
    expect(messages.depth()).to.equal(0);
  });

  it("offers the head job of every chat, and honours not_before", () => {
    const { messages } = open();
    for (let i = 0; i < 5; i++) messages.enqueueAlert(1, `a${i}`, Priority.fresh, i);
    messages.enqueueAlert(2, "b", Priority.fresh, 9);
    messages.enqueueText(1, { text: "reply" }, Priority.interactive, 10);
    const due = messages.listDue(100, 10);
    expect(due.map((j) => [j.chatId, j.alertId ?? j.payload?.text])).to.deep.equal([
      [1, "reply"],
      [2, "b"],
    ]);
    messages.postpone(due[0]!.id, 500);
    expect(messages.listDue(100, 10).map((j) => j.alertId)).to.deep.equal(["a0", "b"]);
    expect(messages.nextNotBefore()).to.equal(0);
  });

  it("lists fresh jobs of alerts not yet shown (neither own message nor digest)", () => {
    const { messages } = open();
    for (const id of ["a", "b", "c"]) messages.enqueueAlert(1, id, Priority.fresh, 1);
    messages.saveRendered({ alertId: "b", chatId: 1, messageId: 7, renderedVersion: 1, renderedPhase: "open", renderedHash: "h", firstSeverity: 2, renderedAt: 1 });
    messages.saveRendered({ alertId: "c", chatId: 1, messageId: undefined, digestMessageId: 8, renderedVersion: 1, renderedPhase: "digest:open", renderedHash: undefined, firstSeverity: 2, renderedAt: 1 });
    expect(messages.listFresh(1, 10, 10).map((j) => j.alertId)).to.deep.equal(["a"]);
  });

  it("remembers what each message shows; the first severity sticks", () => {
    const { messages } = open();
    messages.saveRendered({ alertId: "a", chatId: -5, messageId: 3, renderedVersion: 1, renderedPhase: "open", renderedHash: "h1", firstSeverity: 2, renderedAt: 100 });
    messages.saveRendered({ alertId: "a", chatId: -5, messageId: 3, renderedVersion: 4, renderedPhase: "answered:done", renderedHash: "h2", firstSeverity: 3, renderedAt: 200 });
    expect(messages.getMessage("a", -5)).to.deep.include({ messageId: 3, renderedVersion: 4, renderedPhase: "answered:done", renderedHash: "h2", firstSeverity: 2 });
    expect(messages.findByMessage(-5, 3)?.alertId).to.equal("a");
    messages.invalidate("a", -5);
    expect(messages.getMessage("a", -5)?.renderedHash).to.equal(undefined);
  });

  it("on start, rescans live rows of any age and other rows only if recent", () => {
    const { messages } = open();
    const row = (alertId: string, renderedPhase: string, renderedAt: number) =>
      messages.saveRendered({ alertId, chatId: 1, messageId: 1, renderedVersion: 1, renderedPhase, renderedHash: "h", firstSeverity: 1, renderedAt });
    row("old-open", "open", 10);
    row("old-queued", "answered:queued", 10);
    row("old-done", "answered:done", 10);
    row("old-digest", "digest:open", 10);
    row("new-resolved", "resolved", 1_000);
    expect(messages.listRecentRows(500).map((r) => r.alertId).sort()).to.deep.equal(["new-resolved", "old-open", "old-queued"]);
  });

  it("migrates once: reopening the same database keeps the rows", () => {
    const { db, messages } = open();
    messages.enqueueText(1, { text: "x" }, Priority.fresh, 1);
    const again = createMessageStore(db);
    expect(again.depth()).to.equal(1);
  });
});
