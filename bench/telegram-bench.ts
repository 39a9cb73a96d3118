// Telegram bridge latency on loopback, against the fake Bot API:
//  1. alert → sendMessage: from an alert entering the controller (stored,
//     event published) to the sendMessage request arriving at the Bot API;
//  2. tap → action: from a callback_query update being queued at the Bot API
//     to the answer reaching the controller's delivery point (ActionRequests).
// Pacing is relaxed (perChat 0, 1,000/s) so that latency, not Telegram's
// flood limits, is measured. Target: p99 < 50 ms each.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newId } from "../common/ids.js";
import { silentLogger } from "../common/log.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import type { ActionRequests } from "../controller/domain/action-requests.js";
import { createEventBus } from "../controller/domain/events.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { ALL_ANSWERS, sampleAlert } from "../controller/telegram/alert-fixtures.js";
import { startTelegramBridge } from "../controller/telegram/bridge.js";
import { telegramConfigSchema } from "../controller/telegram/config.js";
import { createFakeBotApi, type FakeCall } from "../controller/telegram/fake-bot-api.js";

const SAMPLES = Number(process.env.SAMPLES ?? 300);
const SPACING_MS = 15;
const CHAT = 1001;
const OPERATOR = { id: 77, username: "op" };
const TARGET_P99_MS = 50;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function report(name: string, samples: number[]): boolean {
  const sorted = [...samples].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const met = p99 < TARGET_P99_MS;
  process.stdout.write(`${name}: n=${sorted.length} p50=${p50.toFixed(1)} ms p99=${p99.toFixed(1)} ms max=${sorted[sorted.length - 1]!.toFixed(1)} ms — target p99 < ${TARGET_P99_MS} ms: ${met ? "met" : "NOT met"}\n`);
  return met;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "secarc-telegram-bench-"));
  const api = createFakeBotApi();
  await api.start();
  const store = openSqliteStore(join(dir, "controller.db"));
  const events = createEventBus();
  const deliveredAt = new Map<string, number>();
  // The controller's delivery point: the action is stored, then handed on.
  const actions: ActionRequests = {
    request(input) {
      const action = store.createAction({ actionId: newId(), agentId: input.agentId, alertId: input.alertId, answer: input.answer, operator: input.operator, requestedAt: new Date(), options: input.options, target: input.target });
      store.markActionSent(action.actionId, new Date());
      deliveredAt.set(input.alertId ?? "", performance.now());
      events.publish({ type: "action", actionId: action.actionId, alertId: action.alertId, agentId: action.agentId });
      return { ok: true, action: store.getAction(action.actionId)!, delivered: true };
    },
  };
  const config = telegramConfigSchema.parse({ token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: 0, globalPerSecond: 1000, perGroupPerMinute: 1000 }, digestThreshold: 1000 });
  const bridge = await startTelegramBridge({ config, store, events, actions, logger: silentLogger() });
  store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [...ALL_ANSWERS], detectors: [], at: new Date() });

  // 1. alert → sendMessage
  const enteredAt = new Map<string, number>();
  const sendLatency: number[] = [];
  const onCall = (call: FakeCall) => {
    if (call.method !== "sendMessage") return;
    const user = /New SSH login: (u\d+) /.exec(String(call.params.text))?.[1];
    const started = user ? enteredAt.get(user) : undefined;
    if (started !== undefined) sendLatency.push(performance.now() - started);
  };
  api.events.on("call", onCall);
  const alertIds: string[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    if (alert.subject.case === "sshSession") alert.subject.value.user = `u${i}`;
    enteredAt.set(`u${i}`, performance.now());
    const { outcome } = store.upsertAlert("web-1", alert, new Date());
    events.publish({ type: "alert", alertId: alert.id, agentId: "web-1", outcome: outcome === "unchanged" ? "updated" : outcome });
    alertIds.push(alert.id);
    await sleep(SPACING_MS);
  }
  await api.waitFor(() => api.messagesIn(CHAT).length >= SAMPLES || undefined, 30_000);
  api.events.off("call", onCall);

  // 2. tap → action at the delivery point
  const tapLatency: number[] = [];
  const messages = api.messagesIn(CHAT);
  for (const message of messages.slice(0, SAMPLES)) {
    const data = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === "Block IP")?.callback_data;
    if (!data) continue;
    const alertId = alertIds[Number(/u(\d+)/.exec(message.text)?.[1])]!;
    const tappedAt = performance.now();
    api.tapButton(CHAT, message.messageId, data, OPERATOR);
    await api.waitFor(() => deliveredAt.has(alertId) || undefined, 5_000);
    tapLatency.push(deliveredAt.get(alertId)! - tappedAt);
    await sleep(SPACING_MS);
  }

  await bridge.stop();
  await api.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
  const ok = [report("alert → sendMessage at the Bot API", sendLatency), report("callback_query → action at the controller's delivery point", tapLatency)];
  process.exitCode = ok.every(Boolean) ? 0 : 1;
}

await main();
