import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { ActionRecord, ActionState, AlertRecord } from "../store/store.js";
import { ALL_ANSWERS, sampleAlert } from "../../testing/alert-fixtures.js";
import { kindAnswers } from "../domain/alert-kinds.js";
import { deriveAlertView, offeredAnswers, phaseKey, type AlertViewInput } from "./alert-view.js";

const T0 = Date.UTC(2026, 10, 29, 4, 0, 0);
const WINDOW = 86_400_000;

function recordOf(alert: Alert, receivedAt = T0): AlertRecord {
  return { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(receivedAt), severitySince: new Date(receivedAt), updatedAt: new Date(receivedAt), version: 1 };
}

function actionOf(alert: Alert, answer: Answer, state: ActionState, detail = ""): ActionRecord {
  const status = { done: ResultStatus.DONE, failed: ResultStatus.FAILED, refused: ResultStatus.REFUSED } as Record<string, ResultStatus>;
  return {
    actionId: `act-${answer}-${state}`,
    agentId: "web-1",
    alertId: alert.id,
    answer,
    operator: create(OperatorSchema, { telegramUserId: 7n, username: "op" }),
    requestedAt: new Date(T0 + 1000),
    options: undefined,
    target: undefined,
    state,
    sentAt: undefined,
    resultStatus: status[state],
    detail,
    dryRun: false,
    finishedAt: undefined,
    expiresAt: undefined,
  };
}

function input(alert: Alert, overrides: Partial<AlertViewInput> = {}): AlertViewInput {
  return { record: recordOf(alert), actions: [], agent: { online: true, actions: ALL_ANSWERS }, firstSeverity: undefined, now: T0 + 5000, answerWindowMs: WINDOW, ...overrides };
}

describe("telegram alert view", () => {
  const kinds = [AlertKind.SSH_SESSION, AlertKind.SSH_BRUTE_FORCE, AlertKind.CPU_SUSTAINED, AlertKind.HTTP_404_BURST] as const;

  it("offers each kind's answers, in order, when alert and agent allow them", () => {
    for (const kind of kinds) {
      const alert = sampleAlert(kind);
      const view = deriveAlertView(input(alert));
      expect(view.phase.type).to.equal("open");
      expect(view.answers).to.deep.equal(kindAnswers(kind).filter((answer) => alert.answers.includes(answer)));
      // Every answer of the kind, when the alert offers them all (the agent's HTTP 404 and brute-force alerts offer Allow too).
      alert.answers = [...kindAnswers(kind)].reverse();
      expect(deriveAlertView(input(alert)).answers).to.deep.equal([...kindAnswers(kind)]);
    }
  });

  it("carries the no-answer policy's mark into the outcome; a human's answer has none", () => {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    const automatic = { ...actionOf(alert, Answer.BLOCK_IP, "sent"), policy: { afterMs: 300_000 } };
    const phase = deriveAlertView(input(alert, { actions: [automatic] })).phase;
    expect(phase.type === "answered" && phase.outcome.policy).to.deep.equal({ afterMs: 300_000 });
    const human = deriveAlertView(input(alert, { actions: [actionOf(alert, Answer.BLOCK_IP, "sent")] })).phase;
    expect(human.type === "answered" && human.outcome.policy).to.equal(undefined);
  });

  it("offers only answers that are in the alert AND in the agent's Hello", () => {
    const alert = sampleAlert(AlertKind.CPU_SUSTAINED);
    expect(offeredAnswers(recordOf(alert), [Answer.IGNORE, Answer.REBOOT])).to.deep.equal([Answer.IGNORE, Answer.REBOOT]);
    alert.answers = [Answer.IGNORE, Answer.SHUTDOWN];
    expect(offeredAnswers(recordOf(alert), ALL_ANSWERS)).to.deep.equal([Answer.IGNORE, Answer.SHUTDOWN]);
    expect(offeredAnswers(recordOf(alert), [])).to.deep.equal([]);
    expect(deriveAlertView(input(alert, { agent: undefined })).answers).to.deep.equal([]);
  });

  it("offers Kill only when the alert names a top process, and nothing for unknown kinds", () => {
    const alert = sampleAlert(AlertKind.CPU_SUSTAINED);
    if (alert.subject.case === "cpu") alert.subject.value.top = [];
    expect(offeredAnswers(recordOf(alert), ALL_ANSWERS)).to.not.include(Answer.KILL_PROCESS);
    const unknown = sampleAlert(AlertKind.UNSPECIFIED);
    unknown.answers = [Answer.IGNORE];
    expect(offeredAnswers(recordOf(unknown), ALL_ANSWERS)).to.deep.equal([]);
  });

  it("follows an answer through its life: sent / queued / done / failed / refused, without buttons", () => {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    const cases: Array<[ActionState, boolean, string]> = [
      ["pending", true, "answered:sent"],
      ["sent", true, "answered:sent"],
      ["pending", false, "answered:queued"],
      ["sent", false, "answered:queued"],
      ["done", true, "answered:done"],
      ["done", false, "answered:done"],
      ["failed", true, "answered:failed"],
      ["refused", false, "answered:refused"],
    ];
    for (const [state, online, key] of cases) {
      const view = deriveAlertView(input(alert, { actions: [actionOf(alert, Answer.BLOCK_IP, state, "why")], agent: { online, actions: ALL_ANSWERS } }));
      expect(phaseKey(view), `${state}/${online}`).to.equal(key);
      expect(view.answers).to.deep.equal([]);
      if (view.phase.type !== "answered") throw new Error("not answered");
      expect(view.phase.outcome.answer).to.equal(Answer.BLOCK_IP);
      expect(view.phase.outcome.operator?.username).to.equal("op");
    }
  });

  it("uses the latest action when there are several", () => {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    const view = deriveAlertView(input(alert, { actions: [actionOf(alert, Answer.IGNORE, "failed"), actionOf(alert, Answer.BLOCK_IP, "done", "ok")] }));
    expect(view.phase.type === "answered" && view.phase.outcome.answer).to.equal(Answer.BLOCK_IP);
  });

  it("expires an unanswered alert after the answer window, not before", () => {
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    expect(deriveAlertView(input(alert, { now: T0 + WINDOW - 1 })).phase.type).to.equal("open");
    const expired = deriveAlertView(input(alert, { now: T0 + WINDOW }));
    expect(expired.phase.type).to.equal("expired");
    expect(expired.answers).to.deep.equal([]);
    const answered = deriveAlertView(input(alert, { now: T0 + WINDOW * 2, actions: [actionOf(alert, Answer.ALLOW, "done")] }));
    expect(answered.phase.type).to.equal("answered");
  });

  it("shows resolution, with or without an earlier answer", () => {
    const alert = sampleAlert(AlertKind.CPU_SUSTAINED, { state: AlertState.RESOLVED, revision: 2 });
    const plain = deriveAlertView(input(alert));
    expect(plain.phase).to.deep.equal({ type: "resolved", outcome: undefined });
    expect(plain.answers).to.deep.equal([]);
    const withAnswer = deriveAlertView(input(alert, { actions: [actionOf(alert, Answer.IGNORE, "done")] }));
    expect(withAnswer.phase.type === "resolved" && withAnswer.phase.outcome?.progress).to.equal("done");
    expect(deriveAlertView(input(alert, { now: T0 + WINDOW * 3 })).phase.type).to.equal("resolved");
  });

  it("marks escalation only when severity rose above the first shown", () => {
    const critical = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL, revision: 2 });
    expect(deriveAlertView(input(critical, { firstSeverity: Severity.WARNING })).escalatedFrom).to.equal(Severity.WARNING);
    expect(deriveAlertView(input(critical, { firstSeverity: Severity.CRITICAL })).escalatedFrom).to.equal(undefined);
    expect(deriveAlertView(input(critical, { firstSeverity: undefined })).escalatedFrom).to.equal(undefined);
    const view = deriveAlertView(input(critical, { firstSeverity: Severity.WARNING }));
    expect(view.phase.type).to.equal("open");
    expect(view.answers.length).to.be.greaterThan(0);
  });
});
