import { timestampMs, type Duration } from "@bufbuild/protobuf/wkt";
import { AlertKind, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { isRenderableKind, type RenderableKind } from "./alert-view.js";
import { kindName as kindNameOf } from "./alert-labels.js";
import type { Translations } from "./i18n/translations.js";
import { clip, escapeHtml, formatTime, humanDuration } from "./text-format.js";

type BodyRenderer = (alert: Alert, t: Translations) => string;

export const MAX_FIELD = 64;
const MAX_PATHS = 5;

/** One line in plain words per kind; every untrusted field is clipped and escaped. */
export const bodyRenderers = {
  [AlertKind.SSH_SESSION]: (alert, t) => {
    if (alert.subject.case !== "sshSession") return unknownBody(alert, t);
    const s = alert.subject.value;
    return t.alert.sshSession({ user: field(s.user), ip: field(s.sourceIp), port: String(s.sourcePort), method: field(s.authMethod) });
  },
  [AlertKind.SSH_BRUTE_FORCE]: (alert, t) => {
    if (alert.subject.case !== "sshFailures") return unknownBody(alert, t);
    const s = alert.subject.value;
    return t.alert.sshBruteForce({
      count: String(s.count),
      window: humanDuration(durationMs(s.window), t),
      ip: field(s.sourceIp || s.sourceHost),
      users: s.usernames.slice(-MAX_PATHS).map((text) => field(text)).join(", "),
    });
  },
  [AlertKind.CPU_SUSTAINED]: (alert, t) => {
    if (alert.subject.case !== "cpu") return unknownBody(alert, t);
    const s = alert.subject.value;
    const top = s.top[0];
    return t.alert.cpuSustained({
      percent: String(Math.round(s.percent)),
      duration: humanDuration(durationMs(s.sustained), t),
      top: top ? `${field(top.name)} ${Math.round(top.cpuPercent)} %` : "",
    });
  },
  [AlertKind.HTTP_404_BURST]: (alert, t) => {
    if (alert.subject.case !== "httpErrors") return unknownBody(alert, t);
    const s = alert.subject.value;
    const paths = s.recentPaths.slice(-MAX_PATHS).map((text) => field(text));
    return t.alert.http404Burst({
      count: String(s.count),
      status: String(s.status || 404),
      window: humanDuration(durationMs(s.window), t),
      ip: field(s.clientIp),
      paths: paths.length > 0 ? `${paths.join(" ")} …` : "",
    }) + (s.logFile || s.virtualHost ? ` (${t.alert.httpLogFile({ file: field([s.virtualHost, s.logFile].filter(Boolean).join(" "), 200) })})` : "");
  },
  [AlertKind.AGENT_OFFLINE]: (alert, t) => {
    if (alert.subject.case !== "agentOffline") return unknownBody(alert, t);
    const s = alert.subject.value;
    return `🔌 ${t.alert.agentOffline({ server: `<b>${field(s.agentId)}</b>`, since: formatTime(s.offlineSince ? timestampMs(s.offlineSince) : 0) })}`;
  },
  [AlertKind.DETECTOR_BLIND]: (alert, t) => {
    if (alert.subject.case !== "detectorBlind") return unknownBody(alert, t);
    const s = alert.subject.value;
    const since = s.blindSince ? timestampMs(s.blindSince) : 0;
    return `🙈 ${t.alert.detectorBlind({ server: `<b>${field(s.agentId)}</b>`, detector: `<b>${field(s.detector)}</b>`, detail: field(s.source?.detail ?? "", 200), since: formatTime(since) })}`;
  },
  [AlertKind.ALERTS_FOLDED]: (alert, t) => {
    if (alert.subject.case !== "alertsFolded") return unknownBody(alert, t);
    const s = alert.subject.value;
    const kinds = s.kinds.map((k) => `${kindNameOf(k.kind, t)} ${k.count}`).join(", ");
    const first = s.firstFolded ? timestampMs(s.firstFolded) : 0;
    const last = s.lastFolded ? timestampMs(s.lastFolded) : 0;
    return `🗜 ${t.alert.alertsFolded({ count: String(s.count), limit: String(s.maxPerMinute), kinds, first: formatTime(first), last: formatTime(last) })}`;
  },
} satisfies Record<RenderableKind, BodyRenderer>;

/** The one-line description of an alert (HTML), as used in messages, /alerts and digests. */
export function alertBody(alert: Alert, t: Translations): string {
  return isRenderableKind(alert.kind) ? bodyRenderers[alert.kind](alert, t) : unknownBody(alert, t);
}

function unknownBody(alert: Alert, t: Translations): string {
  return t.alert.unknown({ summary: field(alert.summary, 300) });
}

export function field(text: string, max: number = MAX_FIELD): string {
  return escapeHtml(clip(text, max));
}

export function durationMs(duration: Duration | undefined): number {
  if (!duration) return 0;
  return Number(duration.seconds) * 1000 + Math.round(duration.nanos / 1e6);
}
