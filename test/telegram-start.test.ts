import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { silentLogger } from "../common/log.js";
import { createActionRequests } from "../controller/domain/action-requests.js";
import { createEventBus } from "../controller/domain/events.js";
import { openSqliteStore, type SqliteStore } from "../controller/store/sqlite-store.js";
import { startTelegramBridge, type TelegramBridge } from "../controller/telegram/bridge.js";
import { telegramConfigSchema } from "../controller/telegram/config.js";
import { createFakeBotApi, type FakeBotApi } from "../testing/fake-bot-api.js";

const GROUP = -1001;
const CHAT_ES = 1002;
const OPERATOR = { id: 77, username: "op" };
const STRANGER = { id: 666, username: "mallory" };

/** Issue 13 item 9: /start. */
describe("telegram /start", function () {
  this.timeout(20_000);
  let api: FakeBotApi;
  let store: SqliteStore;
  let bridge: TelegramBridge;
  let dir: string;
  beforeEach(async () => {
    api = createFakeBotApi();
    await api.start();
    dir = mkdtempSync(join(tmpdir(), "secarc-start-"));
    store = openSqliteStore(join(dir, "c.db"));
    const events = createEventBus();
    const config = telegramConfigSchema.parse({ token: api.token, apiRoot: api.apiRoot, chats: [{ id: GROUP }, { id: CHAT_ES, locale: "es" }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } });
    bridge = await startTelegramBridge({ config, store, events, actions: createActionRequests({ store, events, delivery: { deliver: () => false } }), logger: silentLogger() });
  });
  afterEach(async () => {
    await bridge.stop();
    await api.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an allowed user gets a short welcome and the /help text, in the chat's language", async () => {
    api.sendCommand(GROUP, OPERATOR, "/start");
    const welcome = await api.waitFor(() => api.messagesIn(GROUP).find((m) => m.text.startsWith("Welcome to SecARC")), 10_000);
    expect(welcome.text).to.include("/status — servers and whether they are online");
    api.sendCommand(CHAT_ES, OPERATOR, "/start");
    const es = await api.waitFor(() => api.messagesIn(CHAT_ES).find((m) => m.text.startsWith("Bienvenido a SecARC")), 10_000);
    expect(es.text).to.include("/alerts — alertas abiertas");
  });

  it("a stranger gets their user id and how an operator adds them, once per minute, through the queue; a chat not configured gets nothing, the audit log names them", async () => {
    api.sendCommand(GROUP, STRANGER, "/start");
    const reply = await api.waitFor(() => api.messagesIn(GROUP).find((m) => m.text.includes("Your Telegram user id is 666")), 10_000);
    expect(reply.text).to.include(`(this chat: ${GROUP})`).and.include("telegram.allowedUsers").and.include("systemctl reload secarc-controller");
    api.sendCommand(GROUP, STRANGER, "/start");
    api.sendCommand(GROUP, STRANGER, "/start@secarc_test_bot");
    api.sendCommand(GROUP, OPERATOR, "/help");
    await api.waitFor(() => api.messagesIn(GROUP).find((m) => m.text.includes("/help — this text")), 10_000);
    expect(api.messagesIn(GROUP).filter((m) => m.text.includes("Your Telegram user id"))).to.have.length(1);
    expect((await store.listAudit(10)).filter((a) => a.event === "telegram.start_stranger")).to.have.length(1);

    // A private chat with the bot that is not configured: chats are a boundary, nothing is answered there.
    api.sendCommand(STRANGER.id, STRANGER, "/start");
    for (let i = 0; i < 100 && !(await store.listAudit(20)).some((a) => a.event === "telegram.chat_refused"); i++) await new Promise((r) => setTimeout(r, 50));
    const refused = (await store.listAudit(20)).find((a) => a.event === "telegram.chat_refused")!;
    expect(refused.actor).to.include("666");
    expect(refused.detail).to.include(`in chat ${STRANGER.id}, which is not configured`);
    expect(api.messagesIn(STRANGER.id)).to.have.length(0);
  });
});
