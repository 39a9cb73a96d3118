import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { ActionResultSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { ALL_ANSWERS, sampleAlert } from "../../testing/alert-fixtures.js";
import { createActionRequests } from "../domain/action-requests.js";
import { createEventBus, type EventBus } from "../domain/events.js";
import { createFleetBlocks, type FleetBlocks } from "../domain/fleet-blocks.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import type { ActionRecord } from "../store/store.js";
import { createAlertRenderer } from "./alert-renderer.js";
import { telegramConfigSchema } from "./config.js";
import { fleetJobKey } from "./fleet-summary-job.js";
import { createFleetTelegram, type FleetTelegram } from "./fleet-telegram.js";
import { Priority, type TelegramStore } from "../store/telegram-store.js";
import { createSendPace } from "./send-pace.js";
import { createSendQueue, type BotApi, type SendQueue } from "./send-queue.js";

type Call = { method: "send" | "edit"; chatId: number; messageId: number | undefined; text: string };

/** A Bot API that records what the queue sends; edits wait `editMs` (a slow Telegram), so that changes pile up meanwhile. */
function recordingApi(editMs = 0): BotApi & { calls: Call[] } {
  const calls: Call[] = [];
  let nextId = 500;
  return {
    calls,
    async sendMessage(chatId, text) {
      calls.push({ method: "send", chatId, messageId: undefined, text });
      return { messageId: nextId++ };
    },
    async editMessage(chatId, messageId, text) {
      calls.push({ method: "edit", chatId, messageId, text });
      await new Promise((resolve) => setTimeout(resolve, editMs));
    },
  };
}

const CHAT = 1;
const operator = create(OperatorSchema, { telegramUserId: 7n, username: "ops" });

describe("fleet block summary messages (send queue, real SQLite)", function () {
  this.timeout(15_000);
  let dir: string;
  let store: SqliteStore;
  let messages: TelegramStore;
  let events: EventBus;
  let fleet: FleetBlocks;
  let telegram: FleetTelegram;
  let queue: SendQueue | undefined;
  let online: Set<string>;
  let sent: ActionRecord[];

  const connect = async (agentId: string, actions: Answer[] = [Answer.BLOCK_IP, Answer.UNBLOCK_IP]): Promise<void> => {
    await store.agentConnected({ agentId, version: "1", hostname: agentId, addresses: [], actions, detectors: [], at: new Date(), fleetBlockOptOut: false });
    online.add(agentId);
  };
  /** An agent's result, as the link records and announces it. */
  const result = async (action: ActionRecord, status: ResultStatus, detail = ""): Promise<void> => {
    await store.recordResult(action.agentId, create(ActionResultSchema, { actionId: action.actionId, status, detail }), new Date());
    events.publish({ type: "action", actionId: action.actionId, alertId: action.alertId, agentId: action.agentId });
  };
  const idle = (q: SendQueue) =>
    new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 8_000;
      const check = () => void q.depth().then((depth) => (depth === 0 ? resolve() : Date.now() > deadline ? reject(new Error("queue not drained")) : setTimeout(check, 20)), reject);
      setTimeout(check, 20);
    });

  function start(api: BotApi): SendQueue {
    const config = telegramConfigSchema.parse({ chats: [{ id: CHAT }], pace: { perChat: 0 } });
    telegram = createFleetTelegram({ fleet, messages, config, events, logger: silentLogger(), now: Date.now, kick: () => queue?.kick() });
    const renderer = createAlertRenderer({ store, messages, config, now: Date.now, fleet: telegram });
    const pace = createSendPace({ perChatMs: 0, perGroupPerMinute: 20, globalPerSecond: 30 });
    queue = createSendQueue({ api, store, messages, renderer, pace, config, logger: silentLogger(), now: Date.now, runFleetJob: (job, call) => telegram.runJob(api, job, call) });
    return queue;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-fleet-telegram-"));
    store = openSqliteStore(join(dir, "c.db"));
    messages = store.telegram;
    events = createEventBus();
    online = new Set();
    sent = [];
    const actions = createActionRequests({
      store,
      events,
      now: Date.now,
      controllerAddresses: () => [],
      delivery: {
        async deliver(action) {
          if (!online.has(action.agentId)) return false;
          sent.push(action);
          await store.markActionSent(action.actionId, new Date());
          return true;
        },
      },
    });
    fleet = createFleetBlocks({ store, fleetStore: store.fleetBlocks, actions });
  });
  afterEach(async () => {
    await queue?.stop();
    await telegram?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends one summary, then edits that message as results arrive: coalesced, in order, the last one the true count", async () => {
    for (const id of ["web-1", "web-2", "web-3", "db-1"]) await connect(id);
    await store.agentDisconnected("db-1", new Date());
    online.delete("db-1");
    const api = recordingApi(150);
    const q = start(api);
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    await telegram.follow(block.fleetId, CHAT, undefined);
    await idle(q);
    expect(api.calls.map((c) => [c.method, c.text])).to.deep.equal([["send", "🌐 203.0.113.7 blocked on 0 of 4 servers · db-1 queued (offline) · web-1 sent · web-2 sent · web-3 sent"]]);

    // Three results while Telegram is slow: the first edit is in flight, the other two fold into one.
    const [w1, w2, w3] = ["web-1", "web-2", "web-3"].map((id) => sent.find((a) => a.agentId === id)!);
    await result(w1!, ResultStatus.DONE, "blocked");
    await new Promise((resolve) => setTimeout(resolve, 60));
    await result(w2!, ResultStatus.DONE, "blocked");
    await result(w3!, ResultStatus.REFUSED, "allowed until 14:00");
    await idle(q);
    const edits = api.calls.filter((c) => c.method === "edit");
    expect(edits.every((c) => c.messageId === 500)).to.equal(true);
    expect(edits.length).to.be.within(1, 2);
    expect(edits.at(-1)!.text).to.equal("🌐 203.0.113.7 blocked on 2 of 4 servers · db-1 queued (offline) · web-3 refused (allowed until 14:00)");
    const counts = edits.map((c) => Number(/blocked on (\d+) of/.exec(c.text)![1]));
    expect(counts).to.deep.equal([...counts].sort((a, b) => a - b));

    // Nothing changed: a further job edits nothing.
    await telegram.changed(block.fleetId);
    await idle(q);
    expect(api.calls.filter((c) => c.method === "edit")).to.have.length(edits.length);

    // Lifted: the same message says so.
    expect(await fleet.lift(block.fleetId, operator, "telegram:7 (@ops)")).to.equal(true);
    await telegram.changed(block.fleetId);
    await idle(q);
    expect(api.calls.at(-1)).to.deep.include({ method: "edit", messageId: 500, text: "🌐 203.0.113.7 unblocked on 0 of 4 servers · db-1 unblock queued · web-1 unblock queued · web-2 unblock queued · web-3 unblock queued" });
    expect(api.calls.filter((c) => c.method === "send")).to.have.length(1);
  });

  it("counts a server that joins the fleet block: its BLOCK_IP alone edits the summary", async () => {
    await connect("web-1");
    const api = recordingApi();
    const q = start(api);
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    await telegram.follow(block.fleetId, CHAT, undefined);
    await idle(q);
    await connect("new-1");
    await fleet.agentConnected("new-1");
    await idle(q);
    expect(api.calls.at(-1)).to.deep.include({ method: "edit", text: "🌐 203.0.113.7 blocked on 0 of 2 servers · new-1 sent · web-1 sent" });
  });

  it("shows an alert whose id merely looks like a summary's key as the alert it is", async () => {
    await connect("web-1");
    const api = recordingApi();
    const q = start(api);
    const alert = sampleAlert(AlertKind.HTTP_404_BURST, { id: fleetJobKey("not-a-fleet-block") });
    await store.upsertAlert("web-1", alert, new Date());
    await messages.enqueueAlert(CHAT, alert.id, Priority.fresh, Date.now());
    q.kick();
    await idle(q);
    expect(api.calls).to.have.length(1);
    expect(api.calls[0]!.text).to.include("HTTP 404 burst");
  });

  it("offers Block on all servers beside Block IP only where fleet blocks are served, and names it once it answered the alert", async () => {
    await connect("web-1", [...ALL_ANSWERS]);
    start(recordingApi());
    const config = telegramConfigSchema.parse({ chats: [{ id: CHAT }] });
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    await store.upsertAlert("web-1", alert, new Date());
    const served = (await createAlertRenderer({ store, messages, config, now: Date.now, fleet: telegram }).render(alert.id, CHAT))!;
    const plain = (await createAlertRenderer({ store, messages, config, now: Date.now }).render(alert.id, CHAT))!;
    expect(served.message.keyboard.flat().map((b) => b.text)).to.deep.equal(["Ignore", "Block IP", "Block on all servers"]);
    expect(plain.message.keyboard.flat().map((b) => b.text)).to.deep.equal(["Ignore", "Block IP"]);
    expect(served.view.fleetBlock).to.equal(true);
    const brute = sampleAlert(AlertKind.SSH_BRUTE_FORCE);
    await store.upsertAlert("web-1", brute, new Date());
    expect((await createAlertRenderer({ store, messages, config, now: Date.now, fleet: telegram }).render(brute.id, CHAT))!.message.keyboard.flat().map((b) => b.text)).to.deep.equal(["Block IP", "Block on all servers", "Ignore"]);
    const ssh = sampleAlert(AlertKind.SSH_SESSION);
    await store.upsertAlert("web-1", ssh, new Date());
    expect((await createAlertRenderer({ store, messages, config, now: Date.now, fleet: telegram }).render(ssh.id, CHAT))!.message.keyboard.flat().map((b) => b.text)).to.not.include("Block on all servers");

    const block = await fleet.block({ ip: "198.51.100.23", operator, requestedBy: "telegram:7 (@ops)", alertId: alert.id, alertAgentId: "web-1" });
    await telegram.follow(block.fleetId, CHAT, alert.id);
    const answered = (await createAlertRenderer({ store, messages, config, now: Date.now, fleet: telegram }).render(alert.id, CHAT))!;
    expect(answered.message.text).to.include("Block on all servers chosen by @ops");
    expect(answered.message.keyboard).to.deep.equal([]);
  });
});
