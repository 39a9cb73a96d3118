import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import { Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { ActionRecord, AlertRecord, DetectorSourceRecord } from "../store/store.js";
import { ALL_ANSWERS, sampleAlert } from "../../testing/alert-fixtures.js";
import { renderAlertMessage } from "./alert-message.js";
import { deriveAlertView } from "./alert-view.js";
import { renderAllows } from "./allows-command.js";
import { renderAlertsPage, renderBlocks, renderStatus } from "./command-views.js";
import { checkCallbackAnswer, checkMarkup, checkText } from "../../testing/fake-bot-api-checks.js";
import { translations } from "./i18n/translations.js";
import { popupText, safeText } from "./safe-text.js";
import { renderDigest } from "./send-digest.js";
import { splitMessage } from "./text-format.js";

/**
 * Property test: random Unicode (astral, emoji with ZWJ, combining marks,
 * lone surrogates, bidi and control characters), HTML and lengths, and
 * hostile ids with `<`, `&`, `|`, go through every renderer into the strict
 * checker the fake Bot API uses. Seeded, so a failure repeats.
 */

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "😀", "👩‍👩‍👧‍👦", "🏳️‍🌈", "e\u0301", "\u0915\u094d\u0937", "𝔘", "\ud83d", "\ude00", "\u202e", "\u2066", "\u200f", "\u061c", "\u0000", "\u001b[31m", "\u0085",
  "\n", "\r\n", "\t", "\u2028", "\ufeff", "<", ">", "&", "&amp;", "&lt", "<b>", "</b>", "<script>", "|", "1|p|999999", " ", "a", "ж", "中", "'", '"', "\\", "%",
];

function randomText(next: () => number, maxPieces: number): string {
  const n = Math.floor(next() * maxPieces);
  let text = "";
  for (let i = 0; i < n; i++) text += next() < 0.7 ? PIECES[Math.floor(next() * PIECES.length)]! : String.fromCharCode(Math.floor(next() * 0x10000));
  return text;
}

function hostileAlert(next: () => number): Alert {
  const kinds = [AlertKind.SSH_SESSION, AlertKind.SSH_BRUTE_FORCE, AlertKind.CPU_SUSTAINED, AlertKind.HTTP_404_BURST, AlertKind.AGENT_OFFLINE];
  const alert = sampleAlert(kinds[Math.floor(next() * kinds.length)]!, { id: `<&|${randomText(next, 8)}` });
  const long = () => randomText(next, next() < 0.2 ? 3000 : 40);
  alert.summary = long();
  switch (alert.subject.case) {
    case "sshSession":
      Object.assign(alert.subject.value, { user: long(), sourceIp: long(), authMethod: long() });
      break;
    case "sshFailures":
      Object.assign(alert.subject.value, { sourceIp: long(), usernames: [long(), long(), long()] });
      break;
    case "cpu":
      for (const top of alert.subject.value.top) top.name = long();
      break;
    case "httpErrors":
      Object.assign(alert.subject.value, { clientIp: long(), recentPaths: [long(), long(), long(), long(), long(), long()] });
      break;
    case "agentOffline":
      alert.subject.value.agentId = long();
      break;
  }
  return alert;
}

function accepted(html: string, keyboard: unknown = undefined): void {
  try {
    checkText({ text: html, parse_mode: "HTML" });
    if (keyboard !== undefined) checkMarkup(JSON.stringify({ inline_keyboard: keyboard }));
  } catch (err) {
    throw new Error(`refused (${(err as Error).message}): ${JSON.stringify(html.slice(0, 300))}`);
  }
  expect(html, "a bidi or control character reached Telegram").not.to.match(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
}

describe("every renderer gives Telegram what it accepts (property test)", function () {
  this.timeout(60_000);
  const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);

  for (const [locale, t] of Object.entries(translations)) {
    it(`${locale}: alert messages, digests, /alerts, /blocks, /allows, /status and popups with hostile text`, () => {
      const next = rng(locale === "en" ? 11 : 12);
      for (let round = 0; round < 300; round++) {
        const alert = hostileAlert(next);
        const agentId = `web-${randomText(next, 6)}`;
        const record: AlertRecord = { alertId: alert.id, agentId, alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1 };
        const operator = create(OperatorSchema, { telegramUserId: 7n, username: randomText(next, 6), displayName: randomText(next, 30) });
        const action = {
          actionId: `act-${round}`, agentId, alertId: alert.id, answer: Answer.BLOCK_IP, operator, state: "done", detail: randomText(next, 600), dryRun: next() < 0.5,
          target: { target: { case: "ip", value: randomText(next, 5) } }, requestedAt: new Date(T0), finishedAt: new Date(T0), expiresAt: new Date(T0 + 3_600_000),
        } as unknown as ActionRecord;
        for (const actions of [[], [action]]) {
          const view = deriveAlertView({ record, actions, agent: { online: true, actions: ALL_ANSWERS }, firstSeverity: undefined, now: T0, answerWindowMs: 60_000 });
          const message = renderAlertMessage(view, alert, t);
          accepted(message.text, message.keyboard);
        }
        const kinds = new Map([[agentId, new Map([[randomText(next, 10) || "x", 3]])]]);
        for (const text of renderDigest(kinds, t)) accepted(text);
        const page = renderAlertsPage([record, record], { offset: 0, total: 2, capped: false, more: true }, t);
        for (const text of splitMessage(page.text, t.truncated)) accepted(text);
        checkMarkup(JSON.stringify({ inline_keyboard: page.keyboard }));
        for (const blocks of renderBlocks([{ action, agentId, ip: randomText(next, 5), blocked: randomText(next, 5), expiresAt: undefined }], t)) accepted(blocks.text, blocks.keyboard);
        const allowAction = { ...action, answer: Answer.ALLOW } as ActionRecord;
        for (const allows of renderAllows([{ action: allowAction, agentId, ip: randomText(next, 5), expiresAt: new Date(T0 + 60_000) }], t, T0)) accepted(allows.text, allows.keyboard);
        const status = renderStatus([{ agentId, online: true, revokedAt: undefined, lastSeen: new Date(T0), detectorSources: [{ detector: randomText(next, 20), kind: 1, state: 2, detail: randomText(next, 400), since: T0 } as DetectorSourceRecord], unavailableAnswers: [{ answer: Answer.BLOCK_IP, reason: randomText(next, 400) }, { answer: Answer.REBOOT, reason: randomText(next, 30) }], hostFacts: { osName: randomText(next, 200), osVersion: randomText(next, 30), kernel: randomText(next, 20), architecture: randomText(next, 5), bootedAt: new Date(T0 - 90_000_000), memoryTotalBytes: 8 * 1024 ** 3, cpuModel: randomText(next, 200), cpuCores: 4, cpuPhysicalCores: 2, machine: randomText(next, 200) } }], undefined, t, T0);
        for (const text of splitMessage(status, t.truncated)) accepted(text);
        const popup = popupText(t.notice.alreadyAnswered({ answer: randomText(next, 20), by: randomText(next, 300) }));
        expect(checkCallbackAnswer({ text: popup })).to.equal(popup);
        expect(safeText(randomText(next, 50), { max: 2000 })).to.satisfy((s: string) => !/[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, "")));
      }
    });
  }

  it("the 4-byte emoji path: /a + 40 × 😀 in an HTTP 404 alert is cut whole, and accepted", () => {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST, { at: T0 });
    if (alert.subject.case !== "httpErrors") throw new Error("fixture");
    alert.subject.value.recentPaths = [`/a${"😀".repeat(40)}`];
    const record: AlertRecord = { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1 };
    const view = deriveAlertView({ record, actions: [], agent: { online: true, actions: ALL_ANSWERS }, firstSeverity: undefined, now: T0, answerWindowMs: 60_000 });
    const message = renderAlertMessage(view, alert, translations.en);
    accepted(message.text, message.keyboard);
    expect(message.text).to.include(`/a${"😀".repeat(30)}…`);
  });

  it("an alert id with < and & in /alerts is escaped, and accepted", () => {
    const alert = sampleAlert(AlertKind.SSH_SESSION, { id: "x<b&y>z&amp;" , at: T0 });
    const record: AlertRecord = { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1 };
    const page = renderAlertsPage([record], { offset: 0, total: 1, capped: false, more: false }, translations.en);
    accepted(page.text, page.keyboard);
    expect(page.text).to.include("<code>y&gt;z&amp;amp;</code>");
  });

  it("bidi controls (U+202E ...) never reach Telegram", () => {
    const alert = sampleAlert(AlertKind.SSH_SESSION, { at: T0 });
    if (alert.subject.case !== "sshSession") throw new Error("fixture");
    alert.subject.value.user = "admin\u202egnp.exe\u2066\u200f";
    const record: AlertRecord = { alertId: alert.id, agentId: "web\u202e-1", alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1 };
    const view = deriveAlertView({ record, actions: [], agent: { online: true, actions: ALL_ANSWERS }, firstSeverity: undefined, now: T0, answerWindowMs: 60_000 });
    const message = renderAlertMessage(view, alert, translations.en);
    accepted(message.text, message.keyboard);
    expect(message.text).to.include("admingnp.exe").and.include("web-1");
  });

  it("/alerts says how many are open when it counts no further (10000+)", () => {
    const page = renderAlertsPage([], { offset: 0, total: 10_000, capped: true, more: true }, translations.en);
    expect(page.text).to.include("Open alerts (10000+)");
  });
});
