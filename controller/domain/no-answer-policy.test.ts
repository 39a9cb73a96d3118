import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import { createLogger } from "../../common/log.js";
import { Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import type { ActionRecord, AlertRecord } from "../store/store.js";
import { sampleAlert } from "../../testing/alert-fixtures.js";
import { createActionRequests, type ActionRequests } from "./action-requests.js";
import { createEventBus, type EventBus } from "./events.js";
import {
  decideNoAnswer,
  isPolicyOperator,
  policyOptions,
  ruleTable,
  startNoAnswerPolicy,
  type NoAnswerPolicy,
  type NoAnswerRule,
  type PolicyTimers,
} from "./no-answer-policy.js";

const T0 = 1_800_000_000_000;
const MIN = 60_000;
const WINDOW = 24 * 60 * MIN;

const blockCritical404: NoAnswerRule = {
  kind: AlertKind.HTTP_404_BURST,
  severity: Severity.CRITICAL,
  answer: Answer.BLOCK_IP,
  afterMs: 5 * MIN,
  durationMs: 3_600_000,
  label: "block_ip critical http_404_burst after 5m",
};
const ignoreWarning404: NoAnswerRule = { ...blockCritical404, severity: Severity.WARNING, answer: Answer.IGNORE, afterMs: 30 * MIN, durationMs: undefined, label: "ignore warning http_404_burst after 30m" };

function recordOf(severity: Severity, overrides: Partial<AlertRecord> = {}): AlertRecord {
  const alert = sampleAlert(AlertKind.HTTP_404_BURST, { id: "a-1", at: T0, severity });
  return { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1, ...overrides };
}

describe("decideNoAnswer", () => {
  const rules = ruleTable([blockCritical404, ignoreWarning404]);
  const base = { answered: false, agentActions: [Answer.IGNORE, Answer.BLOCK_IP], answerWindowMs: WINDOW };

  it("waits until the rule's time after the alert reached its severity, then applies", () => {
    expect(decideNoAnswer(rules, { ...base, record: recordOf(Severity.CRITICAL), now: T0 })).to.deep.equal({ type: "wait", rule: blockCritical404, dueAt: T0 + 5 * MIN });
    expect(decideNoAnswer(rules, { ...base, record: recordOf(Severity.CRITICAL), now: T0 + 5 * MIN - 1 }).type).to.equal("wait");
    expect(decideNoAnswer(rules, { ...base, record: recordOf(Severity.CRITICAL), now: T0 + 5 * MIN })).to.deep.equal({ type: "apply", rule: blockCritical404 });
  });

  it("counts an escalation's rule from the escalation", () => {
    const escalated = recordOf(Severity.CRITICAL, { severitySince: new Date(T0 + 20 * MIN) });
    expect(decideNoAnswer(rules, { ...base, record: escalated, now: T0 + 6 * MIN })).to.deep.include({ type: "wait", dueAt: T0 + 25 * MIN });
    expect(decideNoAnswer(rules, { ...base, record: escalated, now: T0 + 25 * MIN }).type).to.equal("apply");
  });

  it("does nothing without a rule for the kind and severity, once answered, or once resolved", () => {
    expect(decideNoAnswer(rules, { ...base, record: recordOf(Severity.INFO), now: T0 + WINDOW - 1 })).to.deep.equal({ type: "none" });
    const ssh = { ...recordOf(Severity.CRITICAL), alert: sampleAlert(AlertKind.SSH_SESSION, { severity: Severity.CRITICAL }) };
    expect(decideNoAnswer(rules, { ...base, record: ssh, now: T0 + 10 * MIN })).to.deep.equal({ type: "none" });
    expect(decideNoAnswer(rules, { ...base, answered: true, record: recordOf(Severity.CRITICAL), now: T0 + 10 * MIN })).to.deep.equal({ type: "none" });
    const resolved = recordOf(Severity.CRITICAL);
    resolved.alert.state = AlertState.RESOLVED;
    expect(decideNoAnswer(rules, { ...base, record: resolved, now: T0 + 10 * MIN })).to.deep.equal({ type: "none" });
  });

  it("skips, saying why, when the alert does not offer the answer or the agent did not announce it", () => {
    const noBlock = recordOf(Severity.CRITICAL);
    noBlock.alert.answers = [Answer.IGNORE];
    expect(decideNoAnswer(rules, { ...base, record: noBlock, now: T0 })).to.deep.include({ type: "skip", why: "not_offered", detail: "the alert does not offer BLOCK_IP" });
    expect(decideNoAnswer(rules, { ...base, agentActions: [Answer.IGNORE], record: recordOf(Severity.CRITICAL), now: T0 })).to.deep.include({
      type: "skip",
      why: "agent_cannot",
      detail: "agent web-1 did not announce BLOCK_IP in its Hello",
    });
    expect(decideNoAnswer(rules, { ...base, agentActions: undefined, record: recordOf(Severity.CRITICAL), now: T0 })).to.deep.include({ why: "agent_cannot", detail: "agent web-1 is not known" });
  });

  it("never acts on an expired alert: a rule time past the expiry, or a controller back after it", () => {
    const late = recordOf(Severity.CRITICAL, { severitySince: new Date(T0 + WINDOW - 2 * MIN) });
    expect(decideNoAnswer(rules, { ...base, record: late, now: T0 + WINDOW - 2 * MIN })).to.deep.include({ type: "skip", why: "expires_first" });
    expect(decideNoAnswer(rules, { ...base, record: recordOf(Severity.CRITICAL), now: T0 + WINDOW })).to.deep.include({ type: "skip", why: "expired" });
    expect(decideNoAnswer(rules, { ...base, record: recordOf(Severity.CRITICAL), now: T0 + WINDOW - 1 }).type).to.equal("apply");
  });

  it("sets a tap's options: block length, mute length only when given, the power delay", () => {
    const defaults = { blockDurationMs: 86_400_000, powerDelayMs: 5_000 };
    expect(Number(policyOptions(blockCritical404, defaults)!.duration!.seconds)).to.equal(3_600);
    expect(Number(policyOptions({ ...blockCritical404, durationMs: undefined }, defaults)!.duration!.seconds)).to.equal(86_400);
    expect(policyOptions(ignoreWarning404, defaults)).to.equal(undefined);
    expect(Number(policyOptions({ ...ignoreWarning404, durationMs: 7_200_000 }, defaults)!.duration!.seconds)).to.equal(7_200);
    expect(Number(policyOptions({ ...blockCritical404, kind: AlertKind.CPU_SUSTAINED, answer: Answer.REBOOT, durationMs: undefined }, defaults)!.delay!.seconds)).to.equal(5);
  });
});

/** A clock and one-shot timers that only move when the test says so. */
function manualTime(start: number) {
  let now = start;
  let nextId = 0;
  const pending = new Map<number, { fn: () => void; at: number }>();
  const timers: PolicyTimers = {
    set(fn, ms) {
      nextId += 1;
      pending.set(nextId, { fn, at: now + ms });
      return nextId;
    },
    clear: (handle) => pending.delete(handle as number),
  };
  return {
    now: () => now,
    timers,
    /** Due times of the armed timers. */
    armed: () => [...pending.values()].map((p) => p.at),
    advanceTo(at: number) {
      now = at;
      for (let round = 0; round < 100; round += 1) {
        const ready = [...pending].filter(([, p]) => p.at <= now);
        if (ready.length === 0) return;
        for (const [id, p] of ready) {
          pending.delete(id);
          p.fn();
        }
      }
      throw new Error("timers kept firing");
    },
  };
}

describe("startNoAnswerPolicy over a real store", () => {
  let dir: string;
  let store: SqliteStore;
  let events: EventBus;
  let actions: ActionRequests;
  let delivered: ActionRecord[];
  let time: ReturnType<typeof manualTime>;
  let logLines: Array<Record<string, unknown>>;
  let policy: NoAnswerPolicy | undefined;

  const human = create(OperatorSchema, { telegramUserId: 77n, username: "op" });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-policy-"));
    store = openSqliteStore(join(dir, "c.db"));
    time = manualTime(T0);
    events = createEventBus();
    delivered = [];
    actions = createActionRequests({
      store,
      events,
      now: time.now,
      delivery: {
        deliver(action) {
          delivered.push(action);
          return false;
        },
      },
    });
    logLines = [];
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [Answer.IGNORE, Answer.BLOCK_IP], detectors: [], at: new Date(T0) });
  });
  afterEach(async () => {
    policy?.stop();
    policy = undefined;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(rules: readonly NoAnswerRule[] = [blockCritical404, ignoreWarning404]): Promise<NoAnswerPolicy> {
    policy?.stop();
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    policy = startNoAnswerPolicy({
      rules,
      store,
      events,
      actions,
      logger: createLogger({ level: "debug", destination }),
      answerWindowMs: WINDOW,
      blockDurationMs: 86_400_000,
      powerDelayMs: 5_000,
      now: time.now,
      timers: time.timers,
    });
    await policy.settled();
    return policy;
  }

  /** Stores an alert revision and tells the bus, as the link does. */
  async function raise(id: string, severity: Severity, revision = 1, at = time.now()): Promise<void> {
    const { outcome } = (await store.upsertAlert("web-1", sampleAlert(AlertKind.HTTP_404_BURST, { id, at, severity, revision }), new Date(at)));
    if (outcome !== "unchanged") events.publish({ type: "alert", alertId: id, agentId: "web-1", outcome });
    await policy?.settled();
  }

  /** Moves the clock (firing due timers) and waits for the decisions they started. */
  async function advanceTo(at: number): Promise<void> {
    time.advanceTo(at);
    await policy?.settled();
  }

  const answersOf = (id: string) => store.listActionsForAlert(id);
  const logged = (msg: string) => logLines.filter((line) => String(line.msg).includes(msg));

  it("blocks a critical HTTP 404 alert left unanswered, once, at the rule's time, as the Operator policy", async () => {
    await start();
    await raise("c-1", Severity.CRITICAL);
    expect(policy!.waiting().get("c-1")).to.equal(T0 + 5 * MIN);
    expect(time.armed()).to.deep.equal([T0 + 5 * MIN]);
    await advanceTo(T0 + 5 * MIN - 1);
    expect((await answersOf("c-1"))).to.deep.equal([]);
    await advanceTo(T0 + 5 * MIN);
    const [action, ...more] = (await answersOf("c-1"));
    expect(more).to.deep.equal([]);
    expect(action).to.deep.include({ answer: Answer.BLOCK_IP, policy: { afterMs: 5 * MIN }, state: "pending" });
    expect(action!.requestedAt.getTime()).to.equal(T0 + 5 * MIN);
    expect(isPolicyOperator(action!.operator)).to.equal(true);
    expect(action!.operator.displayName).to.equal("policy: block_ip critical http_404_burst after 5m");
    expect(action!.target?.target).to.deep.equal({ case: "ip", value: "198.51.100.23" });
    expect(Number(action!.options!.duration!.seconds)).to.equal(3_600);
    expect(delivered.map((a) => a.actionId)).to.deep.equal([action!.actionId]);
    expect((await store.listAudit(5)).map((e) => [e.actor, e.event])).to.deep.include(["policy", "policy.answer"]);
    expect(policy!.waiting().size).to.equal(0);
    // Later revisions and timer runs change nothing.
    await raise("c-1", Severity.CRITICAL, 2);
    await advanceTo(T0 + 60 * MIN);
    await policy!.runDue();
    expect((await answersOf("c-1"))).to.have.length(1);
  });

  it("leaves an alert a human answered in time alone", async () => {
    await start();
    await raise("c-2", Severity.CRITICAL);
    await advanceTo(T0 + 4 * MIN);
    const tap = (await actions.request({ agentId: "web-1", alertId: "c-2", answer: Answer.IGNORE, operator: human }));
    expect(tap.ok).to.equal(true);
    expect(policy!.waiting().has("c-2")).to.equal(false);
    await advanceTo(T0 + 30 * MIN);
    await policy!.runDue();
    expect((await answersOf("c-2")).map((a) => [Answer[a.answer], a.operator.username, a.policy])).to.deep.equal([["IGNORE", "op", undefined]]);
  });

  it("a tap after the policy's answer is refused like a second tap", async () => {
    await start();
    await raise("c-3", Severity.CRITICAL);
    await advanceTo(T0 + 5 * MIN);
    const late = (await actions.request({ agentId: "web-1", alertId: "c-3", answer: Answer.IGNORE, operator: human }));
    expect(late.ok === false && late.reason).to.equal("already_answered");
    expect(late.ok === false && isPolicyOperator(late.existing?.operator)).to.equal(true);
    expect((await answersOf("c-3"))).to.have.length(1);
  });

  it("when a tap is stored first, the rule's time finds it answered and does nothing", async () => {
    await start();
    await raise("c-4", Severity.CRITICAL);
    // The tap is stored without its event reaching the policy yet (same instant as the timer).
    events.subscribe(() => {});
    await store.createAction({ actionId: "tap-1", agentId: "web-1", alertId: "c-4", answer: Answer.IGNORE, operator: human, requestedAt: new Date(T0 + 5 * MIN), options: undefined, target: undefined });
    await advanceTo(T0 + 5 * MIN);
    expect((await answersOf("c-4")).map((a) => a.actionId)).to.deep.equal(["tap-1"]);
    expect(delivered).to.deep.equal([]);
  });

  it("starts an escalated alert's critical clock at the escalation", async () => {
    await start();
    await raise("e-1", Severity.WARNING);
    expect(policy!.waiting().get("e-1")).to.equal(T0 + 30 * MIN);
    await advanceTo(T0 + 20 * MIN);
    await raise("e-1", Severity.CRITICAL, 2);
    expect(policy!.waiting().get("e-1")).to.equal(T0 + 25 * MIN);
    await advanceTo(T0 + 24 * MIN);
    expect((await answersOf("e-1"))).to.deep.equal([]);
    await advanceTo(T0 + 25 * MIN);
    expect((await answersOf("e-1")).map((a) => Answer[a.answer])).to.deep.equal(["BLOCK_IP"]);
  });

  it("survives restarts: one before the rule's time still fires; one after it does not fire again", async () => {
    await start();
    await raise("r-1", Severity.CRITICAL);
    policy!.stop();
    await advanceTo(T0 + 7 * MIN);
    expect((await answersOf("r-1"))).to.deep.equal([]);
    await start();
    expect((await answersOf("r-1")).map((a) => a.policy)).to.deep.equal([{ afterMs: 5 * MIN }]);
    await start();
    await advanceTo(T0 + 60 * MIN);
    await start();
    expect((await answersOf("r-1"))).to.have.length(1);
    // A restart before the time: the waiting alert is found again in the store.
    await raise("r-2", Severity.CRITICAL);
    await start();
    expect(policy!.waiting().get("r-2")).to.equal(T0 + 65 * MIN);
    await advanceTo(T0 + 65 * MIN);
    expect((await answersOf("r-2"))).to.have.length(1);
  });

  it("does nothing, and says why once, when the agent did not announce the answer", async () => {
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [Answer.IGNORE], detectors: [], at: new Date(T0) });
    await start();
    await raise("n-1", Severity.CRITICAL);
    await raise("n-1", Severity.CRITICAL, 2);
    await advanceTo(T0 + 10 * MIN);
    await policy!.runDue();
    expect((await answersOf("n-1"))).to.deep.equal([]);
    const lines = logged("rule not applied");
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ why: "agent_cannot", alertId: "n-1", detail: "agent web-1 did not announce BLOCK_IP in its Hello" });
    expect((await store.listAudit(5)).map((e) => e.event)).to.include("policy.skipped");
  });

  it("leaves alerts that expired before a start alone, and acts on none without rules", async () => {
    await raise("x-1", Severity.CRITICAL);
    await advanceTo(T0 + WINDOW + MIN);
    await start();
    expect((await answersOf("x-1"))).to.deep.equal([]);
    expect(policy!.waiting().size).to.equal(0);
    await start([]);
    await raise("x-2", Severity.CRITICAL);
    await advanceTo(T0 + WINDOW + 10 * MIN);
    await policy!.runDue();
    expect((await answersOf("x-2"))).to.deep.equal([]);
    expect(time.armed()).to.deep.equal([]);
  });

  it("keeps one timer, for the earliest due alert", async () => {
    await start();
    await raise("t-1", Severity.WARNING);
    await raise("t-2", Severity.CRITICAL, 1, T0);
    await raise("t-3", Severity.CRITICAL, 1, T0);
    expect(time.armed()).to.deep.equal([T0 + 5 * MIN]);
    await advanceTo(T0 + 5 * MIN);
    expect(time.armed()).to.deep.equal([T0 + 30 * MIN]);
    expect([...policy!.waiting().keys()]).to.deep.equal(["t-1"]);
  });
});
