import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { AlertRecord } from "../store/store.js";
import { ALL_ANSWERS, sampleAlert } from "../../testing/alert-fixtures.js";
import { renderAlertMessage, confirmKeyboard } from "./alert-message.js";
import { deriveAlertView, type AlertView } from "./alert-view.js";
import { decodeCallback } from "./callback-data.js";
import { translations } from "./i18n/translations.js";
import { MAX_MESSAGE_CHARS } from "./text-format.js";

const T0 = Date.UTC(2026, 10, 29, 4, 41, 0);

function viewOf(alert: Alert): AlertView {
  const record: AlertRecord = { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1 };
  return deriveAlertView({ record, actions: [], agent: { online: true, actions: ALL_ANSWERS }, firstSeverity: undefined, now: T0, answerWindowMs: 60_000 });
}

function buttons(message: { keyboard: { text: string; callback_data: string }[][] }): Array<[string, Answer | undefined]> {
  return message.keyboard.flat().map((b) => {
    const command = decodeCallback(b.callback_data);
    return [b.text, command?.type === "answer" ? command.answer : undefined];
  });
}

describe("telegram alert messages", () => {
  const expectations: Array<{ kind: AlertKind; en: string; es: string; buttonsEn: Array<[string, Answer]>; buttonsEs: string[] }> = [
    {
      kind: AlertKind.SSH_SESSION,
      en: "New SSH login: alice from 203.0.113.7 port 51234 (publickey)",
      es: "Nuevo acceso SSH: alice desde 203.0.113.7 puerto 51234 (publickey)",
      buttonsEn: [["Allow", Answer.ALLOW], ["Close session", Answer.CLOSE_SESSION], ["Block IP", Answer.BLOCK_IP]],
      buttonsEs: ["Permitir", "Cerrar sesión", "Bloquear IP"],
    },
    {
      kind: AlertKind.SSH_BRUTE_FORCE,
      en: "57 failed SSH logins in 5 min from 198.51.100.9 — users tried: root, admin, oracle",
      es: "57 accesos SSH fallidos en 5 min desde 198.51.100.9 — usuarios probados: root, admin, oracle",
      buttonsEn: [["Block IP", Answer.BLOCK_IP], ["Ignore", Answer.IGNORE]],
      buttonsEs: ["Bloquear IP", "Ignorar"],
    },
    {
      kind: AlertKind.CPU_SUSTAINED,
      en: "CPU at 93 % for 2 min — top: xmrig 180 %",
      es: "CPU al 93 % durante 2 min — más activo: xmrig 180 %",
      buttonsEn: [["Ignore", Answer.IGNORE], ["Reboot", Answer.REBOOT], ["Shut down", Answer.SHUTDOWN], ["Kill xmrig", Answer.KILL_PROCESS]],
      buttonsEs: ["Ignorar", "Reiniciar", "Apagar", "Matar xmrig"],
    },
    {
      kind: AlertKind.HTTP_404_BURST,
      en: "185 HTTP 404s in 60 s from 198.51.100.23 — last paths: /.env /admin.php /wp-login.php …",
      es: "185 respuestas HTTP 404 en 60 s a 198.51.100.23 — últimas rutas: /.env /admin.php /wp-login.php …",
      buttonsEn: [["Ignore", Answer.IGNORE], ["Block IP", Answer.BLOCK_IP]],
      buttonsEs: ["Ignorar", "Bloquear IP"],
    },
  ];

  for (const c of expectations) {
    it(`renders ${AlertKind[c.kind]} in en and es with the right buttons`, () => {
      const alert = sampleAlert(c.kind, { at: T0 });
      const en = renderAlertMessage(viewOf(alert), alert, translations.en);
      const es = renderAlertMessage(viewOf(alert), alert, translations.es);
      expect(en.text).to.include(c.en);
      expect(es.text).to.include(c.es);
      expect(en.text).to.include("Server: <b>web-1</b>");
      expect(es.text).to.include("Servidor: <b>web-1</b>");
      expect(en.text).to.include("2026-11-29 04:41 UTC");
      expect(buttons(en)).to.deep.equal(c.buttonsEn);
      expect(buttons(es).map(([text]) => text)).to.deep.equal(c.buttonsEs);
    });
  }

  it("marks severity clearly", () => {
    const critical = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    const warning = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING });
    expect(renderAlertMessage(viewOf(critical), critical, translations.en).text).to.match(/^🔴 <b>CRITICAL<\/b>/);
    expect(renderAlertMessage(viewOf(warning), warning, translations.es).text).to.match(/^🟠 <b>AVISO<\/b>/);
  });

  it("escapes untrusted text from the agent and clips it", () => {
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    if (alert.subject.case === "sshSession") alert.subject.value.user = "<b>root</b>&x";
    const text = renderAlertMessage(viewOf(alert), alert, translations.en).text;
    expect(text).to.include("&lt;b&gt;root&lt;/b&gt;&amp;x");
    expect(text).to.not.include("<b>root");
  });

  it("stays within 4096 characters with a marker, never empty", () => {
    const alert = sampleAlert(AlertKind.UNSPECIFIED);
    alert.summary = "x".repeat(10_000);
    const view = viewOf(alert);
    view.phase = {
      type: "answered",
      outcome: { answer: Answer.BLOCK_IP, operator: create(OperatorSchema, { username: "op" }), progress: "failed", detail: "<y>".repeat(5000), dryRun: false },
    };
    const text = renderAlertMessage(view, alert, translations.en).text;
    expect(text.length).to.be.at.most(MAX_MESSAGE_CHARS);
    expect(text).to.include("Server: <b>web-1</b>");
    expect(text).to.include("failed: &lt;y&gt;");
  });

  it("shows the lifecycle line and who chose", () => {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    const view = viewOf(alert);
    view.answers = [];
    view.phase = { type: "answered", outcome: { answer: Answer.BLOCK_IP, operator: create(OperatorSchema, { username: "op" }), progress: "queued", detail: "", dryRun: false } };
    const message = renderAlertMessage(view, alert, translations.en);
    expect(message.text).to.include("Block IP chosen by @op");
    expect(message.text).to.include("queued: server offline, will run when it reconnects");
    expect(message.keyboard).to.deep.equal([]);
    view.phase = { type: "answered", outcome: { answer: Answer.BLOCK_IP, operator: create(OperatorSchema, { username: "op" }), progress: "done", detail: "198.51.100.23 blocked for 24h", dryRun: false } };
    expect(renderAlertMessage(view, alert, translations.en).text).to.include("done: 198.51.100.23 blocked for 24h");
    view.phase = { type: "expired" };
    expect(renderAlertMessage(view, alert, translations.es).text).to.include("caducada");
  });

  it("says when the no-answer policy applied the answer, in every language, then the usual progress", () => {
    const alert = sampleAlert(AlertKind.HTTP_404_BURST);
    const view = viewOf(alert);
    view.answers = [];
    const operator = create(OperatorSchema, { telegramUserId: 0n, username: "policy", displayName: "policy: block_ip critical http_404_burst after 5m" });
    view.phase = { type: "answered", outcome: { answer: Answer.BLOCK_IP, operator, progress: "done", detail: "198.51.100.23 blocked for 24h", dryRun: false, policy: { afterMs: 300_000 } } };
    const en = renderAlertMessage(view, alert, translations.en).text;
    expect(en).to.include("Block IP applied automatically by policy after 5 min");
    expect(en).to.include("done: 198.51.100.23 blocked for 24h");
    expect(en).to.not.include("chosen by");
    expect(renderAlertMessage(view, alert, translations.es).text).to.include("aplicado automáticamente por la política tras 5 min");
  });

  it("builds a confirm / cancel keyboard for reboot and shut down", () => {
    const kb = confirmKeyboard("01JDQ5Z8K3M4N5P6Q7R8S9T0VW", Answer.REBOOT, translations.en);
    expect(kb.flat().map((b) => b.text)).to.deep.equal(["Confirm reboot?", "Cancel"]);
    expect(decodeCallback(kb[0]![0]!.callback_data)).to.deep.equal({ type: "confirm", alertId: "01JDQ5Z8K3M4N5P6Q7R8S9T0VW", answer: Answer.REBOOT });
  });
});

describe("telegram alert messages: what cannot be offered is said", () => {
  const T1 = Date.UTC(2026, 11, 1, 9, 0, 0);
  function viewWith(alert: Alert, addresses: string[] = []): AlertView {
    const record: AlertRecord = { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(T1), severitySince: new Date(T1), updatedAt: new Date(T1), version: 1 };
    return deriveAlertView({ record, actions: [], agent: { online: true, actions: ALL_ANSWERS, addresses }, controllerAddresses: ["192.0.2.1"], firstSeverity: undefined, now: T1, answerWindowMs: 60_000 });
  }
  it("Block IP is not offered for the agent's own address, loopback or a non-address; the reason is shown", () => {
    for (const [ip, reason] of [["192.0.2.10", "is this server's own address"], ["127.0.0.1", "is a loopback address"], ["0.0.0.0/0", "is not one IP address"], ["192.0.2.1", "is the controller's address"]] as const) {
      const alert = sampleAlert(AlertKind.HTTP_404_BURST);
      if (alert.subject.case === "httpErrors") alert.subject.value.clientIp = ip;
      const message = renderAlertMessage(viewWith(alert, ["192.0.2.10"]), alert, translations.en);
      expect(message.keyboard.flat().map((b) => b.text), ip).not.to.include("Block IP");
      expect(message.text, ip).to.include(`🛡 Block IP not offered: <code>${ip}</code> ${reason}`);
    }
  });
  it("an invalid severity is never shown as INFO; a missing detected_at shows the receive time", () => {
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    alert.severity = 9 as Severity;
    alert.detectedAt = undefined;
    const message = renderAlertMessage(viewWith(alert), alert, translations.en);
    expect(message.text).to.match(/^❔ <b>UNKNOWN SEVERITY \(9\)<\/b>/);
    expect(message.text).not.to.include("INFO");
    expect(message.text).to.include("🕒 2026-12-01 09:00 UTC").and.not.include("1970");
  });
  it("an alert whose id cannot be carried in a button says so instead of waiting for an answer", () => {
    const alert = sampleAlert(AlertKind.SSH_SESSION, { id: `x|${"y".repeat(200)}` });
    const message = renderAlertMessage(viewWith(alert), alert, translations.en);
    expect(message.keyboard).to.deep.equal([]);
    expect(message.text).to.include("No buttons: this alert's id cannot be carried in a button").and.not.include("Waiting for an answer");
  });
  it("Kill never says 'Kill ?': by name, else by pid", () => {
    const alert = sampleAlert(AlertKind.CPU_SUSTAINED);
    if (alert.subject.case === "cpu") alert.subject.value.top[0]!.name = "";
    const message = renderAlertMessage(viewWith(alert), alert, translations.en);
    expect(message.keyboard.flat().map((b) => b.text)).to.include("Kill pid 3131");
  });
});
