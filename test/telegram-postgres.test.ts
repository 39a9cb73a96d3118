import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { silentLogger } from "../common/log.js";
import { ActionResultSchema, Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { createEventBus } from "../controller/domain/events.js";
import { openPostgresStore, type PostgresStore } from "../controller/store/postgres-store.js";
import type { ActionRecord } from "../controller/store/store.js";
import { startTelegramBridge, type TelegramBridge } from "../controller/telegram/bridge.js";
import { telegramConfigSchema } from "../controller/telegram/config.js";
import { ALL_ANSWERS, sampleAlert } from "../testing/alert-fixtures.js";
import { createFakeBotApi, type FakeBotApi } from "../testing/fake-bot-api.js";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";
import { button, CHAT, createTestActionRequests, firstMessage, OPERATOR } from "./support/telegram-harness.js";

/** Polls `check` every 20 ms for up to 10 s. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not met within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// The bridge's bookkeeping on store.telegram of a real PostgreSQL store: message ids, the send queue, tracked actions.
describe("telegram bridge on the PostgreSQL store (fake Bot API, real PostgreSQL)", function () {
  this.timeout(120_000);
  let cluster: PgCluster | undefined;
  let api: FakeBotApi | undefined;
  let store: PostgresStore | undefined;
  let bridge: TelegramBridge | undefined;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => cluster?.stop());
  afterEach(async () => {
    await bridge?.stop();
    await store?.close();
    await api?.stop();
  });

  it("an alert's message, its Block IP and the result edit one message, across a bridge restart; /blocks lists the block", async () => {
    api = createFakeBotApi();
    await api.start();
    const pg = await openPostgresStore({ url: await cluster!.createDatabase(), poolSize: 4 });
    store = pg;
    const events = createEventBus();
    const delivered: ActionRecord[] = [];
    const actions = createTestActionRequests(pg, events, delivered);
    const config = telegramConfigSchema.parse({ token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } });
    const start = () => startTelegramBridge({ config, store: pg, events, actions, logger: silentLogger() });
    bridge = await start();
    await pg.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [...ALL_ANSWERS], detectors: [], at: new Date() });
    events.publish({ type: "agent", agentId: "web-1", online: true });
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    expect((await pg.upsertAlert("web-1", alert, new Date())).outcome).to.equal("inserted");
    events.publish({ type: "alert", alertId: alert.id, agentId: "web-1", outcome: "inserted" });

    const message = await firstMessage(api, CHAT, "185 HTTP 404s");
    await until(async () => (await pg.telegram.findByMessage(CHAT, message.messageId))?.alertId === alert.id, "the message id recorded in PostgreSQL");
    api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    await api.waitFor(() => message.text.includes("Block IP chosen by @op") && message.text.includes("sent to the server"), 10_000);
    const action = delivered[0]!;
    expect(action.answer).to.equal(Answer.BLOCK_IP);

    await bridge.stop();
    bridge = await start();
    await pg.recordResult("web-1", create(ActionResultSchema, { actionId: action.actionId, status: ResultStatus.DONE, detail: "blocked", finishedAt: timestampFromMs(Date.now()), expiresAt: timestampFromMs(Date.now() + 3_600_000) }), new Date());
    events.publish({ type: "action", actionId: action.actionId, alertId: alert.id, agentId: "web-1" });
    await api.waitFor(() => message.text.includes("done: blocked"), 10_000);
    expect(api.messagesIn(CHAT)).to.have.length(1);
    expect((await pg.telegram.listTrackedBlocks()).map((t) => t.actionId)).to.deep.equal([action.actionId]);

    api.sendCommand(CHAT, OPERATOR, "/blocks");
    const list = await firstMessage(api, CHAT, "Active blocks (1):");
    expect(list.text).to.include("198.51.100.23");
    expect(list.replyMarkup?.inline_keyboard.flat().map((b) => b.text).join(" ")).to.include("Unblock");
    await until(async () => (await bridge!.queueDepth()) === 0, "the send queue drained");
  });
});
