import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { AlertKind, AlertSchema, AlertState, DetectorSourceKind, DetectorSourceState, HttpErrorsSchema, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { blindAlert, resolvedBlindAlert } from "../domain/detector-blind.js";
import { alertBody, lifecycleLines } from "./alert-message.js";
import { detectorSourceLines } from "./detector-source-lines.js";
import { translations } from "./i18n/translations.js";
import type { AlertView } from "./alert-view.js";

const T0 = Date.UTC(2026, 11, 1, 10, 0, 0);
const { en, es } = translations;

describe("detector sources and web log files in Telegram", () => {
  it("/status: one line per detector, blind ones marked, agent text escaped", () => {
    const lines = detectorSourceLines(
      {
        detectorSources: [
          { detector: "ssh-session", kind: DetectorSourceKind.FILE, state: DetectorSourceState.FOLLOWING, detail: "/var/log/auth.log", since: T0 },
          { detector: "nginx-404", kind: DetectorSourceKind.FILE, state: DetectorSourceState.WAITING, detail: "/srv/<b>x</b>.log does not exist", since: T0 },
        ],
      },
      en,
    );
    expect(lines).to.deep.equal(["    👁 ssh-session: following /var/log/auth.log", "    🙈 nginx-404: waiting: /srv/&lt;b&gt;x&lt;/b&gt;.log does not exist"]);
    expect(detectorSourceLines({ detectorSources: [{ detector: "d", kind: 0, state: DetectorSourceState.NO_SOURCE, detail: "nada", since: 0 }] }, es)).to.deep.equal(["    🙈 d: sin fuente: nada"]);
  });

  it("an HTTP 404 burst names its log file and virtual host, escaped", () => {
    const alert = create(AlertSchema, {
      id: "a1",
      revision: 1,
      kind: AlertKind.HTTP_404_BURST,
      severity: Severity.WARNING,
      subject: { case: "httpErrors", value: create(HttpErrorsSchema, { clientIp: "203.0.113.7", status: 404, count: 25, logFile: "/var/log/nginx/shop-access.log", virtualHost: "<i>shop</i>" }) },
    });
    expect(alertBody(alert, en)).to.include("(log: &lt;i&gt;shop&lt;/i&gt; /var/log/nginx/shop-access.log)");
    expect(alertBody(alert, es)).to.include("(registro: &lt;i&gt;shop&lt;/i&gt; /var/log/nginx/shop-access.log)");
  });

  it("a blind detector's warning, and the same alert resolved", () => {
    const source = { detector: "nginx-404", kind: DetectorSourceKind.FILE, state: DetectorSourceState.WAITING, detail: "/var/log/nginx/access.log does not exist", since: T0 };
    const open = blindAlert("web-1", source, T0, T0 + 600_000);
    expect(alertBody(open, en)).to.equal("🙈 <b>nginx-404</b> on <b>web-1</b> sees nothing since 2026-12-01 10:00 UTC: /var/log/nginx/access.log does not exist");
    const found = { ...source, state: DetectorSourceState.FOLLOWING, detail: "/var/log/nginx/access.log", since: T0 + 900_000 };
    const resolved = resolvedBlindAlert(open, found, T0 + 900_000, T0 + 901_000);
    expect(resolved.id).to.equal(open.id);
    expect(resolved.revision).to.equal(2);
    expect(resolved.state).to.equal(AlertState.RESOLVED);
    const view = { phase: { type: "resolved" } } as unknown as AlertView;
    expect(lifecycleLines(view, en, resolved)).to.deep.equal(["✅ <b>nginx-404</b> sees its source again at 2026-12-01 10:15 UTC (following /var/log/nginx/access.log), blind 15 min"]);
    expect(resolved.subject.case === "detectorBlind" && resolved.subject.value.blindSince).to.deep.equal(timestampFromMs(T0));
  });
});
