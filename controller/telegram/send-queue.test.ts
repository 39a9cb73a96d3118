import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { TelegramError } from "telegraf";
import { silentLogger } from "../../common/log.js";
import { AlertKind, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import { ALL_ANSWERS, sampleAlert } from "../../testing/alert-fixtures.js";
import { createAlertRenderer } from "./alert-renderer.js";
import { telegramConfigSchema } from "./config.js";
import { Priority, type TelegramStore } from "../store/telegram-store.js";
import { createSendPace } from "./send-pace.js";
import { createSendQueue, type BotApi, type SendQueue } from "./send-queue.js";

type Call = { method: "send" | "edit"; chatId: number; messageId?: number; text: string; at: number };

/** A Bot API that records calls and fails the ones a test scripts. */
function scriptedApi(failures: Array<{ method: "send" | "edit"; error: Error }>): BotApi & { calls: Call[] } {
  const calls: Call[] = [];
  let nextId = 100;
  const maybeFail = (method: "send" | "edit") => {
    const index = failures.findIndex((f) => f.method === method);
    if (index >= 0) throw failures.splice(index, 1)[0]!.error;
  };
  return {
    calls,
    async sendMessage(chatId, text) {
      calls.push({ method: "send", chatId, text, at: Date.now() });
      maybeFail("send");
      return { messageId: nextId++ };
    },
    async editMessage(chatId, messageId, text) {
      calls.push({ method: "edit", chatId, messageId, text, at: Date.now() });
      maybeFail("edit");
    },
  };
}

const tgError = (code: number, description: string, retryAfter?: number) =>
  new TelegramError({ ok: false, error_code: code, description, ...(retryAfter ? { parameters: { retry_after: retryAfter } } : {}) } as never);

describe("telegram send queue", function () {
  this.timeout(10_000);
  let store: SqliteStore;
  let messages: TelegramStore;
  let queue: SendQueue | undefined;
  let dir: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-send-queue-"));
    store = openSqliteStore(join(dir, "c.db"));
    messages = store.telegram;
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [...ALL_ANSWERS], detectors: [], at: new Date() });
  });
  afterEach(async () => {
    await queue?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(api: BotApi) {
    const config = telegramConfigSchema.parse({ chats: [{ id: 1 }], pace: { perChat: 0 } });
    const renderer = createAlertRenderer({ store, messages, config, now: Date.now });
    queue = createSendQueue({ api, store, messages, renderer, pace: createSendPace({ perChatMs: 0, perGroupPerMinute: 20, globalPerSecond: 30 }), config, logger: silentLogger(), now: Date.now });
    return queue;
  }

  async function raise(): Promise<string> {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    await store.upsertAlert("web-1", alert, new Date());
    await messages.enqueueAlert(1, alert.id, Priority.fresh, Date.now());
    return alert.id;
  }

  const idle = (q: SendQueue) => new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 8_000;
    const check = () => void q.depth().then((depth) => (depth === 0 ? resolve() : Date.now() > deadline ? reject(new Error("queue not drained")) : setTimeout(check, 20)), reject);
    check();
  });

  it("sends once, then edits only when the rendered message changes", async () => {
    const api = scriptedApi([]);
    const q = start(api);
    const id = await raise();
    q.kick();
    await idle(q);
    await messages.enqueueAlert(1, id, Priority.update, Date.now());
    q.kick();
    await idle(q);
    expect(api.calls.map((c) => c.method)).to.deep.equal(["send"]);
    await store.upsertAlert("web-1", sampleAlert(AlertKind.HTTP_404_BURST, { id, revision: 2, severity: Severity.WARNING }), new Date());
    await messages.enqueueAlert(1, id, Priority.update, Date.now());
    q.kick();
    await idle(q);
    expect(api.calls.map((c) => [c.method, c.messageId])).to.deep.equal([["send", undefined], ["edit", 100]]);
    expect(await messages.getMessage(id, 1)).to.deep.include({ messageId: 100, renderedVersion: 2 });
  });

  it("retries a transient failure after a backoff, and drops a permanent one", async () => {
    const api = scriptedApi([{ method: "send", error: tgError(502, "Bad Gateway") }]);
    const q = start(api);
    await raise();
    q.kick();
    await idle(q);
    expect(api.calls.map((c) => c.method)).to.deep.equal(["send", "send"]);
    expect(api.calls[1]!.at - api.calls[0]!.at).to.be.at.least(900);

    const refusing = scriptedApi([{ method: "send", error: tgError(400, 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3') }]);
    await q.stop();
    const q2 = start(refusing);
    const dropped = await raise();
    q2.kick();
    await idle(q2);
    expect(refusing.calls).to.have.length(1);
    expect(await messages.getMessage(dropped, 1)).to.equal(undefined);
  });

  it("waits retry_after on 429 before trying again", async () => {
    const api = scriptedApi([{ method: "send", error: tgError(429, "Too Many Requests: retry after 1", 1) }]);
    const q = start(api);
    await raise();
    q.kick();
    await idle(q);
    expect(api.calls).to.have.length(2);
    expect(api.calls[1]!.at - api.calls[0]!.at).to.be.at.least(950);
  });

  it("sends a new message when the one to edit is gone, and treats 'not modified' as done", async () => {
    const api = scriptedApi([
      { method: "edit", error: tgError(400, "Bad Request: message to edit not found") },
    ]);
    const q = start(api);
    const id = await raise();
    q.kick();
    await idle(q);
    await messages.invalidate(id, 1);
    await messages.enqueueAlert(1, id, Priority.update, Date.now());
    q.kick();
    await idle(q);
    expect(api.calls.map((c) => c.method)).to.deep.equal(["send", "edit", "send"]);
    expect((await messages.getMessage(id, 1))?.messageId).to.equal(101);

    const unchanged = scriptedApi([{ method: "edit", error: tgError(400, "Bad Request: message is not modified: specified new message content") }]);
    await q.stop();
    const q2 = start(unchanged);
    await messages.invalidate(id, 1);
    await messages.enqueueAlert(1, id, Priority.update, Date.now());
    q2.kick();
    await idle(q2);
    expect(unchanged.calls.map((c) => c.method)).to.deep.equal(["edit"]);
    expect((await messages.getMessage(id, 1))?.renderedHash).to.be.a("string");
  });
});

describe("telegram send queue: slow and refused chats", function () {
  this.timeout(20_000);
  let store: SqliteStore;
  let messages: TelegramStore;
  let queue: SendQueue | undefined;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-send-queue-"));
    store = openSqliteStore(join(dir, "c.db"));
    messages = store.telegram;
  });
  afterEach(async () => {
    await queue?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(api: BotApi, overrides: Record<string, unknown> = {}) {
    const config = telegramConfigSchema.parse({ chats: [{ id: 1 }, { id: 2 }], pace: { perChat: 0 }, ...overrides });
    const renderer = createAlertRenderer({ store, messages, config, now: Date.now });
    queue = createSendQueue({ api, store, messages, renderer, pace: createSendPace({ perChatMs: 0, perGroupPerMinute: 20, globalPerSecond: 30 }), config, logger: silentLogger(), now: Date.now });
    return queue;
  }
  async function raiseIn(chats: number[]): Promise<string> {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    await store.upsertAlert("web-1", alert, new Date());
    for (const chatId of chats) await messages.enqueueAlert(chatId, alert.id, Priority.fresh, Date.now());
    return alert.id;
  }
  const until = async (what: () => boolean | Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await what())) {
      if (Date.now() > deadline) throw new Error("condition not met");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it("a send that hangs in one chat holds only that chat", async () => {
    const calls: Array<{ chatId: number; at: number }> = [];
    let release: () => void = () => {};
    const hanging = new Promise<void>((resolve) => (release = resolve));
    const api: BotApi = {
      async sendMessage(chatId) {
        calls.push({ chatId, at: Date.now() });
        if (chatId === 1) await hanging;
        return { messageId: calls.length };
      },
      async editMessage() {},
    };
    const q = start(api);
    const first = await raiseIn([1]);
    q.kick();
    await until(() => calls.length === 1, 2000);
    const second = await raiseIn([2]);
    q.kick();
    await until(async () => (await messages.getMessage(second, 2))?.messageId !== undefined, 2000);
    expect((await messages.getMessage(first, 1))?.messageId).to.equal(undefined);
    release();
    await until(async () => (await messages.getMessage(first, 1))?.messageId !== undefined, 2000);
  });

  it("a chat Telegram refuses (403) is parked: its message is kept, the other chat goes on, an update from it resumes it", async () => {
    let blocked = true;
    const sent: number[] = [];
    const api: BotApi = {
      async sendMessage(chatId) {
        if (chatId === 1 && blocked) throw tgError(403, "Forbidden: bot was blocked by the user");
        sent.push(chatId);
        return { messageId: 100 + sent.length };
      },
      async editMessage() {},
    };
    const q = start(api, { parkedRetry: "1h" });
    const id = await raiseIn([1, 2]);
    q.kick();
    await until(() => q.parked().length === 1 && sent.includes(2), 3000);
    expect(q.parked()[0]).to.deep.include({ chatId: 1 });
    expect(q.parked()[0]!.reason).to.match(/403: Forbidden: bot was blocked by the user/);
    expect(await q.depth()).to.equal(1);
    // Another alert for the parked chat waits too, without a call.
    await raiseIn([1]);
    q.kick();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent).to.deep.equal([2]);
    blocked = false;
    q.chatUpdate(1);
    await until(async () => (await q.depth()) === 0, 3000);
    expect(q.parked()).to.deep.equal([]);
    expect((await messages.getMessage(id, 1))?.messageId).to.be.a("number");
  });
});
