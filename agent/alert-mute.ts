import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AlertKind, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import { normalizeIp } from "./responders/ip-policy.js";
import type { Mute, MuteStore } from "./responders/mute-store.js";

/**
 * The one place where alerts are muted: the agent asks `muted(alert)` for
 * every alert it is handed, before the outbox. An alert is muted when its
 * subject's address (the SSH login's source, the brute-force source, the
 * HTTP client) has an "ip" mute in force now — an allow-list entry made by
 * ALLOW, or an IGNORE that named the address — and the alert was detected
 * at or after the decision was made.
 *
 * - Every kind that names an address is muted by it: an allowed address is
 *   trusted, whoever logs in from it (see docs/decisions.md).
 * - An alert first detected before the decision (the one the operator
 *   answered, a burst already on screen) is never muted: its escalation and
 *   resolution still reach its message.
 * - A muted alert stays muted in every later revision while the mute lasts,
 *   escalation to critical included: the operator trusted the address, and
 *   a storm of one address must not break through piecemeal. Once the mute
 *   has ended (or is revoked), the next revision goes out, and Telegram shows
 *   the alert as new.
 *
 * Muted alerts are not lost silently: they are counted per kind and logged
 * at debug with the decision that muted them. The clock is injected.
 */
export interface AlertMute {
  /** Whether to drop this alert (counted and logged) instead of writing it to the outbox. */
  muted(alert: Alert): boolean;
  /** Alerts muted since the agent started, per kind name ("HTTP_404_BURST"). */
  counts(): Record<string, number>;
}

export interface AlertMuteDeps {
  mutes: MuteStore;
  now: () => number;
  logger: Logger;
}

/** The address an alert is about, in canonical form; undefined when its subject names none. */
export function alertSubjectAddress(alert: Alert): string | undefined {
  const subject = alert.subject;
  const raw =
    subject.case === "sshSession" ? subject.value.sourceIp : subject.case === "sshFailures" ? subject.value.sourceIp : subject.case === "httpErrors" ? subject.value.clientIp : undefined;
  return raw ? normalizeIp(raw) : undefined;
}

/** The pure decision: the mute in force for this alert at `now`, if it is muted. */
export function muteFor(alert: Alert, mutes: Pick<MuteStore, "find">, now: number): Mute | undefined {
  const ip = alertSubjectAddress(alert);
  if (ip === undefined) return undefined;
  const mute = mutes.find("ip", ip, now);
  if (mute === undefined) return undefined;
  const detectedAt = alert.detectedAt ? timestampMs(alert.detectedAt) : now;
  if (mute.since !== undefined && detectedAt < mute.since) return undefined;
  return mute;
}

export function createAlertMute(deps: AlertMuteDeps): AlertMute {
  const counts: Record<string, number> = {};
  let readFailureLogged = false;
  return {
    muted(alert) {
      let mute: Mute | undefined;
      try {
        mute = muteFor(alert, deps.mutes, deps.now());
      } catch (err) {
        // Unreadable decisions never hide an alert.
        if (!readFailureLogged) deps.logger.error({ err: describeError(err) }, "mutes could not be read; alerts are not muted");
        readFailureLogged = true;
        return false;
      }
      if (mute === undefined) return false;
      const kind = AlertKind[alert.kind] ?? String(alert.kind);
      counts[kind] = (counts[kind] ?? 0) + 1;
      deps.logger.debug(
        {
          alertId: alert.id,
          revision: alert.revision,
          kind,
          severity: alert.severity,
          ip: mute.key,
          decision: mute.decision ?? "allow",
          until: mute.until === null ? "revoked" : new Date(mute.until).toISOString(),
          actionId: mute.actionId,
          mutedTotal: counts[kind],
        },
        "alert muted",
      );
      return true;
    },
    counts: () => ({ ...counts }),
  };
}
