import { expect } from "chai";
import { AlertState } from "../../gen/secarc/v1/alert_pb.js";
import { offlineAlert, resolvedOfflineAlert } from "../domain/agent-presence.js";
import type { AlertRecord } from "../store/store.js";
import { alertBody, renderAlertMessage } from "./alert-message.js";
import { deriveAlertView, phaseKey } from "./alert-view.js";
import { translations } from "./i18n/translations.js";

const SINCE = Date.UTC(2026, 10, 29, 14, 2, 10);
const RAISED = SINCE + 120_000;
const BACK = Date.UTC(2026, 10, 29, 14, 9, 40);
const DAY = 86_400_000;

function view(alert: ReturnType<typeof offlineAlert>, now: number) {
  const record: AlertRecord = { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(RAISED), severitySince: new Date(RAISED), updatedAt: new Date(now), version: alert.revision };
  return deriveAlertView({ record, actions: [], agent: { online: false, actions: [] }, firstSeverity: undefined, now, answerWindowMs: DAY });
}

describe("telegram: the controller's agent-offline alert", () => {
  it("says since when the agent is offline, in en and es, with no buttons and nothing to wait for", () => {
    const alert = offlineAlert("web-1", SINCE, RAISED);
    const v = view(alert, RAISED);
    expect(v.answers).to.deep.equal([]);
    const en = renderAlertMessage(v, alert, translations.en);
    expect(en.text).to.equal(["🟠 <b>WARNING</b> · Server offline", "Server: <b>web-1</b>", "🔌 <b>web-1</b> offline since 2026-11-29 14:02 UTC", "🕒 2026-11-29 14:02 UTC"].join("\n"));
    expect(en.keyboard).to.deep.equal([]);
    const es = renderAlertMessage(v, alert, translations.es);
    expect(es.text).to.include("🔌 <b>web-1</b> desconectado desde 2026-11-29 14:02 UTC");
    expect(alertBody(alert, translations.en)).to.equal("🔌 <b>web-1</b> offline since 2026-11-29 14:02 UTC");
  });

  it("never expires like an unanswered alert: still open after the answer window", () => {
    const alert = offlineAlert("web-1", SINCE, RAISED);
    const later = view(alert, RAISED + 3 * DAY);
    expect(later.phase.type).to.equal("open");
    expect(phaseKey(later)).to.equal("open");
    expect(renderAlertMessage(later, alert, translations.en).text).to.not.include("expired");
  });

  it("once resolved, says when the agent came back and for how long it was offline (en, es)", () => {
    const resolved = resolvedOfflineAlert(offlineAlert("web-1", SINCE, RAISED), BACK, BACK + 50);
    expect(resolved).to.deep.include({ revision: 2, state: AlertState.RESOLVED });
    const v = view(resolved, BACK + 50);
    expect(v.phase.type).to.equal("resolved");
    const en = renderAlertMessage(v, resolved, translations.en);
    expect(en.text.split("\n").slice(2)).to.deep.equal([
      "🔌 <b>web-1</b> offline since 2026-11-29 14:02 UTC",
      "🕒 2026-11-29 14:02 UTC",
      "<i>✅ <b>web-1</b> back online at 2026-11-29 14:09 UTC, offline 8 min</i>",
    ]);
    expect(en.keyboard).to.deep.equal([]);
    expect(renderAlertMessage(v, resolved, translations.es).text).to.include("<i>✅ <b>web-1</b> conectado de nuevo a las 2026-11-29 14:09 UTC, desconectado 8 min</i>");
  });

  it("escapes an agent id it did not make (ids are validated, the renderer does not rely on it)", () => {
    const alert = offlineAlert("<web>", SINCE, RAISED);
    expect(alertBody(alert, translations.en)).to.equal("🔌 <b>&lt;web&gt;</b> offline since 2026-11-29 14:02 UTC");
  });
});
