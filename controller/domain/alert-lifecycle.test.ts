import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { ActionRecord, ActionState, AlertRecord } from "../store/store.js";
import { sampleAlert } from "../../testing/alert-fixtures.js";
import { alertExpiresAt, alertLifecycle, phaseKey, type AlertPhase } from "./alert-lifecycle.js";

const T0 = Date.UTC(2026, 10, 29, 4, 0, 0);
const WINDOW = 3_600_000;

function recordOf(alert: Alert): AlertRecord {
  return { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1 };
}

function actionOf(answer: Answer, state: ActionState, extra: Partial<ActionRecord> = {}): ActionRecord {
  const status: Partial<Record<ActionState, ResultStatus>> = { done: ResultStatus.DONE, failed: ResultStatus.FAILED, refused: ResultStatus.REFUSED };
  return {
    actionId: `act-${answer}-${state}`,
    agentId: "web-1",
    alertId: "a",
    answer,
    operator: create(OperatorSchema, { telegramUserId: 7n, username: "op" }),
    requestedAt: new Date(T0 + 1000),
    options: undefined,
    target: undefined,
    state,
    sentAt: undefined,
    resultStatus: status[state],
    detail: `detail ${state}`,
    dryRun: false,
    finishedAt: undefined,
    expiresAt: undefined,
    ...extra,
  };
}

function alertOf(kind: AlertKind, state: AlertState): Alert {
  const alert = sampleAlert(kind);
  alert.state = state;
  return alert;
}

describe("alert lifecycle (pure)", () => {
  const agentKinds = [AlertKind.SSH_SESSION, AlertKind.SSH_BRUTE_FORCE, AlertKind.CPU_SUSTAINED, AlertKind.HTTP_404_BURST];
  const controllerKinds = [AlertKind.AGENT_OFFLINE, AlertKind.DETECTOR_BLIND];
  const times = { early: T0 + 5_000, lastMs: T0 + WINDOW - 1, atWindow: T0 + WINDOW, late: T0 + 10 * WINDOW };

  it("an unanswered open alert of an agent's kind is open until the answer window ends, then expired (at exactly the window)", () => {
    for (const kind of agentKinds) {
      const record = recordOf(alertOf(kind, AlertState.OPEN));
      const at = (now: number) => alertLifecycle(record, [], now, { answerWindowMs: WINDOW, agentOnline: true });
      expect(at(times.early)).to.deep.equal({ phase: { type: "open" }, expiresAt: T0 + WINDOW });
      expect(at(times.lastMs).phase.type).to.equal("open");
      expect(at(times.atWindow).phase.type).to.equal("expired");
      expect(at(times.late).phase.type).to.equal("expired");
    }
  });

  it("the controller's own kinds never expire: open until resolved", () => {
    for (const kind of controllerKinds) {
      const record = recordOf(alertOf(kind, AlertState.OPEN));
      expect(alertExpiresAt(record, WINDOW)).to.equal(undefined);
      expect(alertLifecycle(record, [], times.late, { answerWindowMs: WINDOW, agentOnline: false })).to.deep.equal({ phase: { type: "open" }, expiresAt: undefined });
      const resolved = recordOf(alertOf(kind, AlertState.RESOLVED));
      expect(alertLifecycle(resolved, [], times.late, { answerWindowMs: WINDOW, agentOnline: false }).phase).to.deep.equal({ type: "resolved", outcome: undefined });
    }
  });

  it("an answer ends waiting, before or after the window; the latest action is the answer", () => {
    const record = recordOf(alertOf(AlertKind.HTTP_404_BURST, AlertState.OPEN));
    for (const now of Object.values(times)) {
      const { phase } = alertLifecycle(record, [actionOf(Answer.IGNORE, "failed"), actionOf(Answer.BLOCK_IP, "done")], now, { answerWindowMs: WINDOW, agentOnline: true });
      expect(phase.type).to.equal("answered");
      if (phase.type !== "answered") return;
      expect(phase.outcome).to.include({ answer: Answer.BLOCK_IP, progress: "done", detail: "detail done", dryRun: false });
      expect(phase.outcome.operator?.username).to.equal("op");
    }
  });

  it("an answer's progress: sent while its agent is connected, queued while not, done once the result says so, else as its state", () => {
    const record = recordOf(alertOf(AlertKind.SSH_SESSION, AlertState.OPEN));
    const progress = (action: ActionRecord, agentOnline: boolean) => {
      const { phase } = alertLifecycle(record, [action], times.early, { answerWindowMs: WINDOW, agentOnline });
      return phase.type === "answered" ? phase.outcome.progress : phase.type;
    };
    const cases: Array<[ActionRecord, boolean, string]> = [
      [actionOf(Answer.BLOCK_IP, "pending"), true, "sent"],
      [actionOf(Answer.BLOCK_IP, "pending"), false, "queued"],
      [actionOf(Answer.BLOCK_IP, "sent"), true, "sent"],
      [actionOf(Answer.BLOCK_IP, "sent"), false, "queued"],
      [actionOf(Answer.BLOCK_IP, "sent", { resultStatus: ResultStatus.DONE }), false, "done"],
      [actionOf(Answer.BLOCK_IP, "done"), false, "done"],
      [actionOf(Answer.BLOCK_IP, "failed"), true, "failed"],
      [actionOf(Answer.BLOCK_IP, "refused"), true, "refused"],
    ];
    for (const [action, online, expected] of cases) expect(progress(action, online), `${action.state} online=${online}`).to.equal(expected);
  });

  it("resolved wins, keeping the answer's outcome; the policy's answers say after how long", () => {
    const record = recordOf(alertOf(AlertKind.HTTP_404_BURST, AlertState.RESOLVED));
    const policy = actionOf(Answer.BLOCK_IP, "done", { policy: { afterMs: 300_000 } });
    const { phase } = alertLifecycle(record, [policy], times.late, { answerWindowMs: WINDOW, agentOnline: true });
    expect(phase.type).to.equal("resolved");
    expect(phase.type === "resolved" && phase.outcome).to.deep.include({ answer: Answer.BLOCK_IP, progress: "done", policy: { afterMs: 300_000 } });
    expect(alertLifecycle(record, [], times.early, { answerWindowMs: WINDOW, agentOnline: true }).phase).to.deep.equal({ type: "resolved", outcome: undefined });
  });

  it("phase keys name the phase and an answer's progress", () => {
    const outcome = { answer: Answer.IGNORE, operator: undefined, progress: "queued" as const, detail: "", dryRun: false };
    const phases: Array<[AlertPhase, string]> = [
      [{ type: "open" }, "open"],
      [{ type: "expired" }, "expired"],
      [{ type: "answered", outcome }, "answered:queued"],
      [{ type: "resolved", outcome }, "resolved"],
    ];
    for (const [phase, key] of phases) expect(phaseKey(phase)).to.equal(key);
  });
});
