import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { silentLogger } from "../common/log.js";
import { createActionRequests } from "../controller/domain/action-requests.js";
import { createEventBus, type EventBus } from "../controller/domain/events.js";
import { openSqliteStore, type SqliteStore } from "../controller/store/sqlite-store.js";
import { ALL_ANSWERS, sampleAlert } from "../testing/alert-fixtures.js";
import { startTelegramBridge, type TelegramBridge } from "../controller/telegram/bridge.js";
import { telegramConfigSchema } from "../controller/telegram/config.js";
import { createFakeBotApi, type FakeBotApi } from "../testing/fake-bot-api.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { captureLog } from "./support/controller-harness.js";

const CHAT = 1001;

/** The bridge never stops the controller because of Telegram (issue 13 item 3). */
describe("telegram bridge: token and Bot API trouble are states, retried with backoff", function () {
  this.timeout(40_000);
  let api: FakeBotApi;
  let store: SqliteStore;
  let events: EventBus;
  let dir: string;
  let bridge: TelegramBridge | undefined;

  beforeEach(async () => {
    api = createFakeBotApi();
    await api.start();
    dir = mkdtempSync(join(tmpdir(), "secarc-token-"));
    store = openSqliteStore(join(dir, "c.db"));
    events = createEventBus();
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [...ALL_ANSWERS], detectors: [], at: new Date() });
  });
  afterEach(async () => {
    await bridge?.stop();
    bridge = undefined;
    await api.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (config: Record<string, unknown>, logger = silentLogger()) => {
    const parsed = telegramConfigSchema.parse({ apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [77], pace: { perChat: "50ms" }, ...config });
    bridge = await startTelegramBridge({ config: parsed, store, events, actions: createActionRequests({ store, events, delivery: { deliver: () => false } }), logger });
    return bridge;
  };
  const raise = async () => {
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    await store.upsertAlert("web-1", alert, new Date());
    events.publish({ type: "alert", alertId: alert.id, agentId: "web-1", outcome: "inserted" });
    return alert;
  };

  it("starts with a refused token, names the config key, sends nothing, and checks the token again with backoff", async () => {
    const log = captureLog();
    const b = await start({ token: "1:wrong-token" }, log.logger);
    expect(b.connection().state).to.equal("token_refused");
    expect(b.connection().detail).to.equal("telegram: token refused (401): check telegram.token");
    expect(log.matching("telegram: token refused (401): check telegram.token")).to.have.length.greaterThan(0);
    await raise();
    // First retry after 1 s, the next after 2 s more: a few getMe calls, no storm.
    await api.waitFor(() => api.calls.filter((c) => c.method === "getMe").length >= 3, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    const getMe = api.calls.filter((c) => c.method === "getMe").length;
    expect(getMe).to.be.within(3, 4);
    expect(api.calls.filter((c) => c.method === "sendMessage")).to.have.length(0);
    expect(b.connection().attempts).to.be.at.least(3);
    expect(b.connection().retryAt).to.be.greaterThan(Date.now());
    expect(JSON.stringify(log.lines)).to.not.include("wrong-token");
    expect(await b.queueDepth()).to.equal(1);
  });

  it("without any token the bridge runs and says what to set", async () => {
    const saved = process.env.TELEGRAM_BOT_TOKEN;
    delete process.env.TELEGRAM_BOT_TOKEN;
    try {
      const b = await start({});
      expect(b.connection()).to.include({ state: "no_token", detail: "telegram: no bot token: set TELEGRAM_BOT_TOKEN or telegram.token" });
      expect(api.calls).to.have.length(0);
    } finally {
      if (saved !== undefined) process.env.TELEGRAM_BOT_TOKEN = saved;
    }
  });

  it("a 401 later keeps the alert's job, pauses, and sends it once the token is accepted again", async () => {
    const log = captureLog();
    const b = await start({ token: api.token }, log.logger);
    expect(b.connection().state).to.equal("ok");
    api.failNext(1, { methods: ["sendMessage"], errorCode: 401, description: "Unauthorized" });
    await raise();
    await api.waitFor(() => log.matching("telegram: token refused (401): check telegram.token").length > 0, 10_000);
    const message = await api.waitFor(() => api.messagesIn(CHAT).find((m) => m.text.includes("New SSH login")), 20_000);
    expect(message).to.not.equal(undefined);
    expect(b.connection().state).to.equal("ok");
    expect(log.matching("job dropped")).to.have.length(0);
  });

  it("retries setMyCommands when it failed at start", async () => {
    api.failNext(1, { methods: ["setMyCommands"], errorCode: 502, description: "Bad Gateway" });
    const b = await start({ token: api.token });
    for (let i = 0; i < 100 && !b.connection().commandsSet; i++) await new Promise((r) => setTimeout(r, 100));
    expect(b.connection().commandsSet).to.equal(true);
    expect(api.commands.map((c) => c.command)).to.include("status");
    expect(api.calls.filter((c) => c.method === "setMyCommands").length).to.be.at.least(2);
  });
});
