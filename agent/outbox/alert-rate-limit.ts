import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SHARED_KINDS } from "../../common/alert-kinds.js";
import { newId } from "../../common/ids.js";
import { AlertKind, AlertsFoldedSchema, AlertState, FoldedKindSchema, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { buildAlert, newTrack, type AlertTrack } from "../detectors/alert-builder.js";

/**
 * The agent's per-agent alert rate limit (`alerts.maxPerMinute`). New alerts
 * pass while a token bucket of `maxPerMinute` tokens, refilled at
 * `maxPerMinute` a minute, has one; above that rate each new alert is
 * folded into one digest alert (ALERTS_FOLDED) that counts them by kind,
 * with the first and last time - never dropped silently. The digest is sent
 * at the first folded alert, revised with the counts at most once a
 * `periodMs` while folding goes on, and resolved with the totals once a
 * period passes without folding. Later revisions of an alert that passed
 * always pass (a raised alert is also seen to end); those of a folded alert
 * stay folded (counted once). As Alertmanager groups alerts into one
 * notification, this keeps one flooding detector from burying the rest.
 */

export interface AlertRateLimitOptions {
  /** Alerts per minute sent one by one; the bucket holds as many. */
  maxPerMinute: number;
  /** Passes an alert (or a digest revision) on to the outbox. */
  forward(alert: Alert): void;
  now?: () => number;
  /** How often a digest is revised and checked for its end. Default: 60 s. */
  periodMs?: number;
  /** Alert ids remembered as passed or folded. Default: 100,000. */
  maxTrackedIds?: number;
}

export interface AlertRateLimit {
  /** Takes an alert from the detectors: passes or folds it. */
  offer(alert: Alert): void;
  /** Revises or resolves the open digest (the timer's work; also for tests with a fake clock). */
  tick(): void;
  /** Alerts folded since start. */
  folded(): number;
  /** Sends the open digest's counts now and stops the timer. */
  close(): void;
}

interface Digest {
  track: AlertTrack;
  count: number;
  kinds: Map<AlertKind, number>;
  first: number;
  last: number;
  /** `count` when the digest was last sent. */
  sent: number;
}

export function createAlertRateLimit(options: AlertRateLimitOptions): AlertRateLimit {
  const { maxPerMinute, forward } = options;
  const now = options.now ?? Date.now;
  const periodMs = options.periodMs ?? 60_000;
  const maxTracked = options.maxTrackedIds ?? 100_000;
  let tokens = maxPerMinute;
  let refilledAt = now();
  /** Insertion order: the oldest id first. true = passed, false = folded. */
  const seen = new Map<string, boolean>();
  let digest: Digest | undefined;
  let total = 0;
  let timer: NodeJS.Timeout | undefined;

  function remember(id: string, passed: boolean): void {
    if (seen.size >= maxTracked) seen.delete(seen.keys().next().value!);
    seen.set(id, passed);
  }

  function takeToken(at: number): boolean {
    tokens = Math.min(maxPerMinute, tokens + ((at - refilledAt) * maxPerMinute) / 60_000);
    refilledAt = at;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }

  function send(d: Digest, at: number, resolved: boolean): void {
    d.sent = d.count;
    const kinds = [...d.kinds].sort((a, b) => b[1] - a[1]).map(([kind, count]) => create(FoldedKindSchema, { kind, count }));
    forward(
      buildAlert(d.track, AlertKind.ALERTS_FOLDED, SHARED_KINDS[AlertKind.ALERTS_FOLDED].answers, at, {
        severity: Severity.WARNING,
        state: resolved ? AlertState.RESOLVED : AlertState.OPEN,
        summary: `${d.count} alerts folded above ${maxPerMinute} a minute (${kinds.map((k) => `${AlertKind[k.kind]} ${k.count}`).join(", ")})${resolved ? ", ended" : ""}`,
        subject: {
          case: "alertsFolded",
          value: create(AlertsFoldedSchema, { count: d.count, kinds, firstFolded: timestampFromMs(d.first), lastFolded: timestampFromMs(d.last), maxPerMinute }),
        },
      }),
    );
  }

  function fold(alert: Alert, at: number): void {
    total += 1;
    if (digest === undefined) {
      digest = { track: newTrack(at, Severity.WARNING), count: 0, kinds: new Map(), first: at, last: at, sent: 0 };
      timer ??= setInterval(tick, periodMs).unref();
    }
    digest.count += 1;
    digest.last = at;
    digest.kinds.set(alert.kind, (digest.kinds.get(alert.kind) ?? 0) + 1);
    if (digest.track.revision === 0) send(digest, at, false);
  }

  function tick(): void {
    if (digest === undefined) return;
    const at = now();
    const ended = at - digest.last >= periodMs;
    if (ended || digest.count !== digest.sent) send(digest, at, ended);
    if (ended) {
      digest = undefined;
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    offer(alert) {
      const known = seen.get(alert.id);
      if (known === true) return forward(alert);
      const at = now();
      if (known === false) {
        if (digest !== undefined) digest.last = at;
        return;
      }
      if (takeToken(at)) {
        remember(alert.id, true);
        forward(alert);
      } else {
        remember(alert.id, false);
        fold(alert, at);
      }
    },
    tick,
    folded: () => total,
    close() {
      if (digest !== undefined && digest.count !== digest.sent) send(digest, now(), false);
      clearInterval(timer);
      timer = undefined;
    },
  };
}
