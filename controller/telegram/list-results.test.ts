import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import { ActionResultSchema, ActionTargetSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import { telegramConfigSchema } from "./config.js";
import { createListResults, type ListTap } from "./list-results.js";
import { Priority, type TelegramStore } from "../store/telegram-store.js";

describe("telegram list results (Unblock/Revoke lines in /blocks and /allows)", () => {
  let dir: string;
  let store: SqliteStore;
  let messages: TelegramStore;
  const config = telegramConfigSchema.parse({ token: "1:x", chats: [{ id: 1 }, { id: 2, locale: "es" }], allowedUsers: [7] });
  const keyboard = [[{ text: "Unblock 198.51.100.7 (web-1)", callback_data: "u1" }], [{ text: "Unblock 198.51.100.8 (web-1)", callback_data: "u2" }]];
  const tap = (chatId: number, tapped: string): ListTap => ({ chatId, messageId: 40, tapped, baseHtml: "Active blocks (2):\n198.51.100.7\n198.51.100.8", keyboard });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-list-"));
    store = openSqliteStore(join(dir, "c.db"));
    messages = store.telegram;
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [Answer.UNBLOCK_IP], detectors: [], at: new Date(0) });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function unblock(actionId: string, ip: string): Promise<void> {
    await store.createAction({ actionId, agentId: "web-1", alertId: undefined, answer: Answer.UNBLOCK_IP, operator: create(OperatorSchema, {}), requestedAt: new Date(1), options: undefined, target: create(ActionTargetSchema, { target: { case: "ip", value: ip } }) });
  }

  it("keeps the first tap's text, drops every tapped button, and shows each action where it stands", async () => {
    const lists = createListResults({ store, messages, config });
    await unblock("a1", "198.51.100.7");
    await unblock("a2", "198.51.100.8");
    await store.markActionSent("a1", new Date(2));
    await lists.tapped(tap(1, "u1"), "a1", 10);
    // The second tap's message already shows the first line: the stored first text is kept.
    await lists.tapped({ ...tap(1, "u2"), baseHtml: "changed", keyboard: [keyboard[1]!] }, "a2", 11);
    expect((await store.recordResult("web-1", create(ActionResultSchema, { actionId: "a1", status: ResultStatus.DONE, detail: "198.51.100.7 <unblocked>" }), new Date(3)))).to.equal(true);
    const shown = (await lists.render(1, 40))!;
    expect(shown.text).to.equal(
      "Active blocks (2):\n198.51.100.7\n198.51.100.8\n\n" +
        "Unblock <code>198.51.100.7</code> on <b>web-1</b>: ✅ done: 198.51.100.7 &lt;unblocked&gt;\n" +
        "Unblock <code>198.51.100.8</code> on <b>web-1</b>: 🕓 queued: server offline, will run when it reconnects",
    );
    expect(shown.keyboard).to.deep.equal([]);
    expect((await lists.render(1, 41))).to.equal(undefined);
  });

  it("speaks the chat's language and queues one edit job per change, for the tapped message", async () => {
    const lists = createListResults({ store, messages, config });
    await unblock("a1", "198.51.100.7");
    await store.markActionSent("a1", new Date(2));
    await lists.tapped(tap(2, "u1"), "a1", 10);
    expect((await lists.render(2, 40))!.text).to.include("Desbloquear <code>198.51.100.7</code> en <b>web-1</b>: 📤 enviado al servidor, esperando su resultado");
    expect((await lists.render(2, 40))!.keyboard).to.deep.equal([keyboard[1]]);
    await lists.changed("a1", 12);
    await lists.changed("unknown", 13);
    const jobs = await messages.listDue(20, 10);
    expect(jobs.map((j) => [j.chatId, j.payload?.listMessageId, j.priority])).to.deep.equal([[2, 40, Priority.interactive]]);
    expect(await messages.depth()).to.equal(2);
  });

  it("survives reopening the store file (a restart)", async () => {
    await unblock("a1", "198.51.100.7");
    await createListResults({ store, messages, config }).tapped(tap(1, "u1"), "a1", 10);
    await store.close();
    store = openSqliteStore(join(dir, "c.db"));
    messages = store.telegram;
    const again = createListResults({ store, messages, config });
    expect((await again.render(1, 40))!.text).to.include("Unblock <code>198.51.100.7</code> on <b>web-1</b>: 🕓 queued");
    expect(await messages.listLineOf("a1")).to.include({ chatId: 1, messageId: 40, tapped: "u1" });
  });
});
