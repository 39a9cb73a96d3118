import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ActionResultSchema, type Answer, type ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import { silentLogger, type Logger } from "../../common/log.js";
import { createEventBus, type EventBus } from "../../controller/domain/events.js";
import { createActionRequests, type ActionRequests } from "../../controller/domain/action-requests.js";
import { openSqliteStore, type SqliteStore } from "../../controller/store/sqlite-store.js";
import type { ActionRecord, AlertRecord, Store } from "../../controller/store/store.js";
import { ALL_ANSWERS } from "../../testing/alert-fixtures.js";
import { startTelegramBridge, type TelegramBridge } from "../../controller/telegram/bridge.js";
import { telegramConfigSchema } from "../../controller/telegram/config.js";
import { createFakeBotApi, type FakeBotApi, type FakeMessage } from "../../testing/fake-bot-api.js";

/**
 * A Telegram bridge on a real SQLite store against the fake Bot API (strict
 * checker on), with an agent simulated at the store: for the bridge's system
 * tests.
 */

/** The core's ActionRequests with a delivery point that hands actions to an online agent and records them. */
export function createTestActionRequests(store: Store, events: EventBus, delivered: ActionRecord[]): ActionRequests {
  return createActionRequests({
    store,
    events,
    delivery: {
      async deliver(action) {
        if (!(await store.getAgent(action.agentId))?.online) return false;
        await store.markActionSent(action.actionId, new Date());
        delivered.push((await store.getAction(action.actionId))!);
        return true;
      },
    },
  });
}

export const CHAT = 1001;
export const CHAT_ES = 1002;
export const OPERATOR = { id: 77, username: "op" };
export const STRANGER = { id: 666, username: "mallory" };

export interface Harness {
  api: FakeBotApi;
  store: SqliteStore;
  events: EventBus;
  delivered: ActionRecord[];
  bridge: TelegramBridge;
  dbPath: string;
  raise(alert: Alert, agentId?: string): Promise<AlertRecord>;
  connectAgent(agentId?: string, actions?: readonly Answer[]): Promise<void>;
  disconnectAgent(agentId?: string): Promise<void>;
  finish(action: ActionRecord, status: ResultStatus, detail: string): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(overrides: Record<string, unknown> = {}, api?: FakeBotApi, logger: Logger = silentLogger()): Promise<Harness> {
  const fake = api ?? createFakeBotApi();
  if (!api) await fake.start();
  const dir = mkdtempSync(join(tmpdir(), "secarc-telegram-"));
  const dbPath = join(dir, "controller.db");
  const store = openSqliteStore(dbPath);
  const events = createEventBus();
  const delivered: ActionRecord[] = [];
  const actions = createTestActionRequests(store, events, delivered);
  const config = telegramConfigSchema.parse({
    token: fake.token,
    apiRoot: fake.apiRoot,
    chats: [{ id: CHAT }, { id: CHAT_ES, locale: "es" }],
    allowedUsers: [OPERATOR.id],
    confirmTimeout: "2s",
    pace: { perChat: "50ms" },
    ...overrides,
  });
  const start = () => startTelegramBridge({ config, store, events, actions, logger });
  const h: Harness = {
    api: fake,
    store,
    events,
    delivered,
    bridge: await start(),
    dbPath,
    async raise(alert, agentId = "web-1") {
      const { outcome, record } = (await store.upsertAlert(agentId, alert, new Date()));
      if (outcome !== "unchanged") events.publish({ type: "alert", alertId: alert.id, agentId, outcome });
      return record;
    },
    async connectAgent(agentId = "web-1", answers = ALL_ANSWERS) {
      await store.agentConnected({ agentId, version: "1", hostname: agentId, addresses: [], actions: [...answers], detectors: [], at: new Date() });
      for (const action of (await store.listUnfinishedActions(agentId))) {
        await store.markActionSent(action.actionId, new Date());
        delivered.push((await store.getAction(action.actionId))!);
      }
      events.publish({ type: "agent", agentId, online: true });
    },
    async disconnectAgent(agentId = "web-1") {
      await store.agentDisconnected(agentId, new Date());
      events.publish({ type: "agent", agentId, online: false });
    },
    async finish(action, status, detail) {
      const ok = (await store.recordResult(action.agentId, create(ActionResultSchema, { actionId: action.actionId, status, detail, finishedAt: timestampFromMs(Date.now()), expiresAt: timestampFromMs(Date.now() + 86_400_000) }), new Date()));
      expect(ok).to.equal(true);
      events.publish({ type: "action", actionId: action.actionId, alertId: action.alertId, agentId: action.agentId });
    },
    async restart() {
      await h.bridge.stop();
      h.bridge = await start();
    },
    async stop() {
      await h.bridge.stop();
      if (!api) await fake.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

export function button(message: FakeMessage, label: string): string {
  const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
  if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
  return found.callback_data;
}

export function labels(message: FakeMessage | undefined): string[] {
  return message?.replyMarkup?.inline_keyboard.flat().map((b) => b.text) ?? [];
}

/** The message showing an alert: found by the alert's buttons, or by the text once buttons are gone. */
export async function firstMessage(api: FakeBotApi, chatId: number, includes: string): Promise<FakeMessage> {
  return api.waitFor(() => api.messagesIn(chatId).find((m) => m.text.includes(includes)), 5000);
}

