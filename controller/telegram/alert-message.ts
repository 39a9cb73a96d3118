import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { AgentOffline, Alert, DetectorBlind } from "../../gen/secarc/v1/alert_pb.js";
import { isControllerKind } from "../domain/alert-kinds.js";
import { describeSkew, isSkewed } from "../link/clock-skew.js";
import { alertBody, field } from "./alert-body.js";
import { answerLabel, kindName, severityLabel, severityMarker } from "./alert-labels.js";
import type { AlertView, AnswerOutcome } from "./alert-view.js";
import { ALLOW_DURATIONS, encodeCallback } from "./callback-data.js";
import type { Translations } from "./i18n/translations.js";
import { clip, escapeHtml, fitMessage, formatTime, humanDuration, MAX_MESSAGE_CHARS, operatorName } from "./text-format.js";

export { alertBody } from "./alert-body.js";
export { answerLabel, kindName, severityLabel, severityMarker } from "./alert-labels.js";

export interface InlineButton {
  text: string;
  callback_data: string;
}

/** Rows of inline buttons, as Telegram's reply_markup.inline_keyboard. */
export type InlineKeyboard = InlineButton[][];

/** A message ready to send: HTML text (≤ 4096 characters) and its buttons. */
export interface RenderedMessage {
  text: string;
  keyboard: InlineKeyboard;
}

/** The lifecycle line(s) of a view (HTML); `alert` gives a controller alert its own lines. */
export function lifecycleLines(view: AlertView, t: Translations, alert?: Alert): string[] {
  if (alert?.subject.case === "agentOffline") return agentOfflineLines(alert.subject.value, view, t);
  if (alert?.subject.case === "detectorBlind") return detectorBlindLines(alert.subject.value, view, t);
  const lines: string[] = [];
  if (view.escalatedFrom !== undefined) {
    lines.push(`⬆️ ${t.lifecycle.escalated({ from: severityLabel(view.escalatedFrom, t), to: severityLabel(view.severity, t) })}`);
  }
  const phase = view.phase;
  switch (phase.type) {
    case "open":
      lines.push(`⏳ ${t.lifecycle.awaiting}`);
      break;
    case "expired":
      lines.push(`⌛ ${t.lifecycle.expired}`);
      break;
    case "answered":
      lines.push(...outcomeLines(phase.outcome, t, alert, view.answeredEverywhere));
      break;
    case "resolved":
      if (phase.outcome) lines.push(...outcomeLines(phase.outcome, t, alert, view.answeredEverywhere));
      lines.push(`✔️ ${t.lifecycle.resolved}`);
      break;
  }
  return lines;
}

/** An agent offline: nothing to wait for while it lasts; when and after how long it came back once resolved. */
function agentOfflineLines(subject: AgentOffline, view: AlertView, t: Translations): string[] {
  if (view.phase.type !== "resolved") return [];
  const since = subject.offlineSince ? timestampMs(subject.offlineSince) : undefined;
  const back = subject.backOnlineAt ? timestampMs(subject.backOnlineAt) : undefined;
  if (back === undefined) return [`✔️ ${t.lifecycle.resolved}`];
  const offline = since === undefined ? "?" : humanDuration(Math.max(0, back - since), t);
  return [`✅ ${t.lifecycle.backOnline({ server: `<b>${field(subject.agentId)}</b>`, at: formatTime(back), offline })}`];
}

/** A detector blind: nothing to wait for while it lasts; when it saw its source again, and after how long, once resolved. */
function detectorBlindLines(subject: DetectorBlind, view: AlertView, t: Translations): string[] {
  if (view.phase.type !== "resolved") return [];
  const since = subject.blindSince ? timestampMs(subject.blindSince) : undefined;
  const found = subject.sourceFoundAt ? timestampMs(subject.sourceFoundAt) : undefined;
  if (found === undefined) return [`✔️ ${t.lifecycle.resolved}`];
  const blind = since === undefined ? "?" : humanDuration(Math.max(0, found - since), t);
  return [`✅ ${t.lifecycle.sourceFound({ detector: `<b>${field(subject.detector)}</b>`, at: formatTime(found), source: field(subject.sourceFound || "-", 200), blind })}`];
}

function outcomeLines(outcome: AnswerOutcome, t: Translations, alert: Alert | undefined, everywhere: boolean): string[] {
  const answer = escapeHtml(everywhere && outcome.answer === Answer.BLOCK_IP ? t.fleet.blockEverywhere : answerLabel(outcome.answer, t, alert));
  const chosen = outcome.policy
    ? `🤖 ${t.lifecycle.appliedByPolicy({ answer, after: humanDuration(outcome.policy.afterMs, t) })}`
    : `👤 ${t.lifecycle.chosen({ answer, by: escapeHtml(operatorName(outcome.operator)) })}`;
  const detail = field(outcome.detail, 400);
  const lines = [chosen];
  switch (outcome.progress) {
    case "sent":
      lines.push(`📤 ${t.lifecycle.sent}`);
      break;
    case "queued":
      lines.push(`🕓 ${t.lifecycle.queued}`);
      break;
    case "done":
      lines.push(`✅ ${t.lifecycle.done({ detail })}`);
      break;
    case "failed":
      lines.push(`❌ ${t.lifecycle.failed({ detail })}`);
      break;
    case "refused":
      lines.push(`🚫 ${t.lifecycle.refused({ detail })}`);
      break;
  }
  if (outcome.dryRun) lines.push(`🧪 ${t.lifecycle.dryRun}`);
  return lines;
}

/** The whole message of an alert: header, body, time, lifecycle; and its buttons. */
export function renderAlertMessage(view: AlertView, alert: Alert, t: Translations): RenderedMessage {
  const detectedAt = alert.detectedAt ? timestampMs(alert.detectedAt) : undefined;
  // The controller's receive time; the agent's own time beside only when its clock is off.
  // The controller's own alerts carry the controller's time already.
  const own = isControllerKind(view.kind);
  const shownAt = own ? (detectedAt ?? view.receivedAt) : view.receivedAt;
  const skewed = !own && (view.clockSkewMs !== undefined ? isSkewed(view.clockSkewMs) : detectedAt !== undefined && isSkewed(detectedAt - view.receivedAt));
  const agentTime = skewed && detectedAt !== undefined ? ` (${t.agentClock({ time: formatTime(detectedAt), skew: describeSkew(view.clockSkewMs ?? detectedAt - view.receivedAt) })})` : "";
  const keyboard = alertKeyboard(view, alert, t);
  const withheld = view.withheld.map((w) => `🛡 ${t.lifecycle.withheld({ answer: escapeHtml(answerLabel(w.answer, t)), ip: `<code>${escapeHtml(clip(w.address, 45) || "?")}</code>`, reason: t.lifecycle.blockRefusal[w.reason] })}`);
  // An open alert that cannot carry buttons says so, instead of waiting for an answer nobody can give.
  const noButtons = view.phase.type === "open" && keyboard.length === 0 && !own ? (view.answers.length > 0 ? t.lifecycle.noButtonsId : t.lifecycle.noAnswers) : undefined;
  const lifecycle = lifecycleLines(view, t, alert).map((line) => (noButtons && line === `⏳ ${t.lifecycle.awaiting}` ? `ℹ️ ${escapeHtml(noButtons)}` : line));
  const lines = [
    `${severityMarker(view.severity)} <b>${escapeHtml(severityLabel(view.severity, t))}</b> · ${escapeHtml(kindName(view.kind, t))}`,
    `${t.server}: <b>${escapeHtml(view.agentId)}</b>`,
    alertBody(alert, t),
    `🕒 ${formatTime(shownAt)}${agentTime}`,
    ...withheld,
    ...lifecycle.map((line) => `<i>${line}</i>`),
  ];
  // The repeat's note closes the message and survives a cut of a long body.
  const note = view.sentAgain ? `\n<i>${escapeHtml(t.sentAgain)}</i>` : "";
  return { text: `${fitMessage(lines.join("\n"), t.truncated, MAX_MESSAGE_CHARS - note.length)}${note}`, keyboard };
}

/** One row of answer buttons (two rows when there are more than three); "Block on all servers" follows Block IP. */
export function alertKeyboard(view: AlertView, alert: Alert, t: Translations): InlineKeyboard {
  const buttons: InlineButton[] = [];
  for (const answer of view.answers) {
    const data = encodeCallback({ type: "answer", alertId: view.alertId, answer });
    if (data !== undefined) buttons.push({ text: answerLabel(answer, t, alert), callback_data: data });
    const everywhere = answer === Answer.BLOCK_IP && view.fleetBlock ? encodeCallback({ type: "blockEverywhere", alertId: view.alertId }) : undefined;
    if (data !== undefined && everywhere !== undefined) buttons.push({ text: t.fleet.blockEverywhere, callback_data: everywhere });
  }
  if (buttons.length === 0) return [];
  return buttons.length > 3 ? [buttons.slice(0, 2), buttons.slice(2)] : [buttons];
}

/** The buttons shown after a first tap on Reboot / Shut down. */
export function confirmKeyboard(alertId: string, answer: Answer, t: Translations): InlineKeyboard {
  const confirm = encodeCallback({ type: "confirm", alertId, answer });
  const cancel = encodeCallback({ type: "cancel", alertId });
  if (confirm === undefined || cancel === undefined) return [];
  const label = answer === Answer.SHUTDOWN ? t.confirm.shutdown : t.confirm.reboot;
  return [[{ text: label, callback_data: confirm }, { text: t.confirm.cancel, callback_data: cancel }]];
}

/** The buttons shown after a first tap on Allow: one per duration, then Cancel. */
export function allowKeyboard(alertId: string, t: Translations): InlineKeyboard {
  const cancel = encodeCallback({ type: "cancel", alertId });
  const row: InlineButton[] = [];
  for (const duration of ALLOW_DURATIONS) {
    const data = encodeCallback({ type: "allow", alertId, duration });
    if (data !== undefined) row.push({ text: t.allowFor[duration], callback_data: data });
  }
  if (cancel === undefined || row.length === 0) return [];
  return [row, [{ text: t.confirm.cancel, callback_data: cancel }]];
}

