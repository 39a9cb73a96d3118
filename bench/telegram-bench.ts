// Telegram bridge latency on loopback: the real controller (SQLite store,
// link server, bridge), a real agent over mutual TLS, and the fake Bot API.
//  1. alert → sendMessage: from the alert entering the controller (stored and
//     published on the event bus) to the sendMessage request arriving at the
//     Bot API; also shown from the agent's emit, through the link.
//  2. tap → agent: from a callback_query update being queued at the Bot API
//     to the action arriving at the agent's responder (after its journal).
// Pacing is relaxed (perChat 0, 1,000/s) so that latency, not Telegram's
// flood limits, is measured. Target: p99 < 50 ms each.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import type { Responder } from "../agent/responders/responder.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController } from "../controller/controller.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import { createFakeBotApi, type FakeCall } from "../testing/fake-bot-api.js";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { freeLoopbackPort, testAgentConfig } from "../test/support/agent-process.js";
import { testControllerConfig } from "../test/support/controller-harness.js";
import { createTestPki } from "../test/support/pki.js";
import { givenResponders } from "../test/support/given-responders.js";

const SAMPLES = Number(process.env.SAMPLES ?? 300);
const SPACING_MS = 20;
const CHAT = 1001;
const OPERATOR = { id: 77, username: "op" };
const TARGET_P99_MS = 50;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function report(name: string, samples: number[], target: boolean): boolean {
  const sorted = [...samples].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const met = p99 < TARGET_P99_MS;
  const verdict = target ? ` — target p99 < ${TARGET_P99_MS} ms: ${met ? "met" : "NOT met"}` : "";
  process.stdout.write(`${name}: n=${sorted.length} p50=${p50.toFixed(1)} ms p99=${p99.toFixed(1)} ms max=${sorted[sorted.length - 1]!.toFixed(1)} ms${verdict}\n`);
  return met || !target;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "secarc-telegram-bench-"));
  const pki = await createTestPki();
  const api = createFakeBotApi();
  await api.start();
  const port = await freeLoopbackPort();
  const controller = await startController({
    config: testControllerConfig(pki, dir, {
      listen: { host: "127.0.0.1", port },
      log: { level: "error" },
      telegram: { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: 0, globalPerSecond: 1000, perGroupPerMinute: 1000 }, digestThreshold: 1000 },
    }),
    logger: silentLogger(),
  });
  const arrivedAt = new Map<string, number>();
  const responder: Responder = {
    name: "timing",
    answers: [Answer.BLOCK_IP, Answer.IGNORE],
    async execute(action) {
      arrivedAt.set(action.alertId, performance.now());
      return { status: ResultStatus.DONE, detail: "timed" };
    },
  };
  const certs = await pki.issueAgent("bench-1");
  const agentConfig = parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "agent"), port, logLevel: "error" }), "bench");
  const agent = await startAgent({ config: agentConfig, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map(responder.answers.map((a) => [a, responder]))) });
  await agent.waitConnected(10_000);

  // 1. alert → sendMessage
  const emittedAt = new Map<string, number>();
  const storedAt = new Map<string, number>();
  const userOf = new Map<string, string>();
  const fromStore: number[] = [];
  const fromEmit: number[] = [];
  const unsubscribe = controller.events.subscribe((event) => {
    if (event.type === "alert" && event.outcome === "inserted") storedAt.set(userOf.get(event.alertId) ?? "", performance.now());
  });
  const onCall = (call: FakeCall) => {
    if (call.method !== "sendMessage") return;
    const at = performance.now();
    const user = /New SSH login: (u\d+) /.exec(String(call.params.text))?.[1];
    if (!user) return;
    const stored = storedAt.get(user);
    const emitted = emittedAt.get(user);
    if (stored !== undefined) fromStore.push(at - stored);
    if (emitted !== undefined) fromEmit.push(at - emitted);
  };
  api.events.on("call", onCall);
  const alertOfUser = new Map<string, string>();
  for (let i = 0; i < SAMPLES; i++) {
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    if (alert.subject.case === "sshSession") alert.subject.value.user = `u${i}`;
    userOf.set(alert.id, `u${i}`);
    alertOfUser.set(`u${i}`, alert.id);
    emittedAt.set(`u${i}`, performance.now());
    agent.emit(alert);
    await sleep(SPACING_MS);
  }
  await api.waitFor(() => api.messagesIn(CHAT).length >= SAMPLES || undefined, 60_000);
  api.events.off("call", onCall);
  unsubscribe();

  // 2. tap → action at the agent
  const tapToAgent: number[] = [];
  for (const message of api.messagesIn(CHAT).slice(0, SAMPLES)) {
    const data = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === "Block IP")?.callback_data;
    const alertId = alertOfUser.get(/New SSH login: (u\d+) /.exec(message.text)?.[1] ?? "");
    if (!data || !alertId) continue;
    const tappedAt = performance.now();
    api.tapButton(CHAT, message.messageId, data, OPERATOR);
    const deadline = Date.now() + 5_000;
    while (!arrivedAt.has(alertId) && Date.now() < deadline) await sleep(0.2);
    if (!arrivedAt.has(alertId)) throw new Error(`action for ${alertId} did not reach the agent`);
    tapToAgent.push(arrivedAt.get(alertId)! - tappedAt);
    await sleep(SPACING_MS);
  }

  await agent.close();
  await controller.close();
  await api.stop();
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
  const ok = [
    report("alert stored in the controller → sendMessage at the Bot API", fromStore, true),
    report("(alert emitted by the agent → sendMessage, through the mTLS link)", fromEmit, false),
    report("callback_query update → action at the agent's responder", tapToAgent, true),
  ];
  process.exitCode = ok.every(Boolean) ? 0 : 1;
}

await main();
