import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { ActionTargetSchema, Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import type { ActionRecord } from "../store/store.js";
import { createActionRequests, type ActionRequests } from "./action-requests.js";
import { createEventBus, type ControllerEvent } from "./events.js";

const operator = create(OperatorSchema, { telegramUserId: 7n, username: "ops" });

function cpuAlert(id: string, state = AlertState.OPEN): Alert {
  return create(AlertSchema, {
    id,
    revision: 1,
    kind: AlertKind.CPU_SUSTAINED,
    severity: Severity.CRITICAL,
    state,
    answers: [Answer.IGNORE, Answer.KILL_PROCESS, Answer.REBOOT],
    subject: { case: "cpu", value: { percent: 97, threshold: 90, top: [{ pid: 321, name: "miner", cpuPercent: 190, startTicks: 123456n }, { pid: 9, name: "other" }] } },
  });
}

describe("createActionRequests", () => {
  let dir: string;
  let store: SqliteStore;
  let delivered: ActionRecord[];
  let online: boolean;
  let events: ControllerEvent[];
  let requests: ActionRequests;
  let tick: number;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-requests-"));
    store = openSqliteStore(join(dir, "c.db"));
    delivered = [];
    online = true;
    events = [];
    tick = 1_700_000_000_000;
    const bus = createEventBus();
    bus.subscribe((e) => events.push(e));
    requests = createActionRequests({
      store,
      events: bus,
      now: () => tick,
      delivery: {
        async deliver(action) {
          if (!online) return false;
          delivered.push(action);
          await store.markActionSent(action.actionId, new Date(tick));
          return true;
        },
      },
    });
    await store.agentConnected({ agentId: "h1", version: "1", hostname: "h1", addresses: [], actions: [Answer.IGNORE, Answer.KILL_PROCESS, Answer.BLOCK_IP, Answer.UNBLOCK_IP], detectors: [], at: new Date(tick) });
    await store.upsertAlert("h1", cpuAlert("cpu-1"), new Date(tick));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores the action with the busiest process as target, then delivers it to an online agent", async () => {
    const outcome = (await requests.request({ agentId: "h1", alertId: "cpu-1", answer: Answer.KILL_PROCESS, operator }));
    if (!outcome.ok) throw new Error(outcome.detail);
    expect(outcome.delivered).to.equal(true);
    expect(outcome.action.state).to.equal("sent");
    expect(outcome.action.target?.target).to.deep.equal({ case: "process", value: create(ActionTargetSchema, { target: { case: "process", value: { pid: 321, startTicks: 123456n, name: "miner" } } }).target.value });
    expect(outcome.action.requestedAt.getTime()).to.equal(tick);
    expect(delivered.map((a) => a.actionId)).to.deep.equal([outcome.action.actionId]);
    expect((await store.getAction(outcome.action.actionId))!.operator.username).to.equal("ops");
    expect(events).to.deep.include({ type: "action", actionId: outcome.action.actionId, alertId: "cpu-1", agentId: "h1" });
  });

  it("keeps the action pending for an offline agent", async () => {
    online = false;
    const outcome = (await requests.request({ agentId: "h1", alertId: "cpu-1", answer: Answer.IGNORE, operator, options: { $typeName: "secarc.v1.ActionOptions", duration: durationFromMs(3_600_000) } }));
    if (!outcome.ok) throw new Error(outcome.detail);
    expect(outcome.delivered).to.equal(false);
    expect(outcome.action.target).to.equal(undefined);
    expect((await store.listUnfinishedActions("h1")).map((a) => a.actionId)).to.deep.equal([outcome.action.actionId]);
    expect((await store.getAction(outcome.action.actionId))!.state).to.equal("pending");
    expect(Number((await store.getAction(outcome.action.actionId))!.options?.duration?.seconds)).to.equal(3600);
  });

  it("refuses a second answer and returns the existing action", async () => {
    const first = (await requests.request({ agentId: "h1", alertId: "cpu-1", answer: Answer.IGNORE, operator }));
    const second = (await requests.request({ agentId: "h1", alertId: "cpu-1", answer: Answer.KILL_PROCESS, operator }));
    expect(first.ok).to.equal(true);
    expect(second).to.deep.include({ ok: false, reason: "already_answered" });
    if (second.ok || !first.ok) return;
    expect(second.existing?.actionId).to.equal(first.action.actionId);
    expect(delivered).to.have.length(1);
  });

  it("refuses an answer the alert does not offer, or the agent cannot carry out", async () => {
    expect((await requests.request({ agentId: "h1", alertId: "cpu-1", answer: Answer.BLOCK_IP, operator }))).to.deep.include({ ok: false, reason: "unsupported" });
    expect((await requests.request({ agentId: "h1", alertId: "cpu-1", answer: Answer.REBOOT, operator }))).to.deep.include({ ok: false, reason: "unsupported" });
    expect((await store.listUnfinishedActions("h1"))).to.deep.equal([]);
  });

  it("refuses unknown agents, unknown or foreign alerts, and resolved alerts", async () => {
    expect((await requests.request({ agentId: "nobody", alertId: "cpu-1", answer: Answer.IGNORE, operator }))).to.deep.include({ ok: false, reason: "unknown_agent" });
    expect((await requests.request({ agentId: "h1", alertId: "missing", answer: Answer.IGNORE, operator }))).to.deep.include({ ok: false, reason: "unknown_alert" });
    await store.agentConnected({ agentId: "h2", version: "1", hostname: "h2", addresses: [], actions: [Answer.IGNORE], detectors: [], at: new Date(tick) });
    expect((await requests.request({ agentId: "h2", alertId: "cpu-1", answer: Answer.IGNORE, operator }))).to.deep.include({ ok: false, reason: "unknown_alert" });
    await store.upsertAlert("h1", { ...cpuAlert("cpu-1", AlertState.RESOLVED), revision: 2 }, new Date(tick));
    expect((await requests.request({ agentId: "h1", alertId: "cpu-1", answer: Answer.IGNORE, operator }))).to.deep.include({ ok: false, reason: "resolved" });
    expect(delivered).to.deep.equal([]);
  });

  it("accepts an action without alert when it names its target, and refuses one that needs a target and has none", async () => {
    expect((await requests.request({ agentId: "h1", alertId: undefined, answer: Answer.UNBLOCK_IP, operator }))).to.deep.include({ ok: false, reason: "unsupported" });
    const outcome = (await requests.request({ agentId: "h1", alertId: undefined, answer: Answer.UNBLOCK_IP, operator, target: create(ActionTargetSchema, { target: { case: "ip", value: "203.0.113.9" } }) }));
    if (!outcome.ok) throw new Error(outcome.detail);
    expect(outcome.action.alertId).to.equal(undefined);
    expect(outcome.action.target?.target).to.deep.equal({ case: "ip", value: "203.0.113.9" });
  });
});
