import { AlertKind, AlertState, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { subjectAddress } from "../common/alert-kinds.js";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import { normalizeIp } from "./responders/ip-policy.js";
import type { Mute, MuteStore } from "./responders/mute-store.js";

/**
 * The one place where alerts are muted: the agent asks `muted(alert)` for
 * every alert it is handed, before the outbox. An alert is muted when its
 * subject's address (the SSH login's source, the brute-force source, the
 * HTTP client) has an "ip" mute in force now — an allow-list entry made by
 * ALLOW, or an IGNORE that named the address — and the alert is new
 * (revision 1) or one whose first revision was muted.
 *
 * - Every kind that names an address is muted by it: an allowed address is
 *   trusted, whoever logs in from it (see docs/decisions.md).
 * - An alert shown before the decision (the one the operator answered, a
 *   burst already on screen) is never muted: its escalation and resolution
 *   still reach its message. (Whether an alert was muted is remembered by
 *   id, not derived from times: detection times come from the logs, and
 *   the agent's clock may differ from them.)
 * - A muted alert stays muted in every later revision while the mute lasts,
 *   escalation to critical included: the operator trusted the address, and
 *   a storm of one address must not break through piecemeal. Once the mute
 *   has ended (or is revoked), the next open revision goes out, and Telegram
 *   shows the alert as new; its resolution alone does not (nothing was
 *   shown, nothing to resolve; ids of muted alerts are remembered, at most
 *   MAX_MUTED_IDS, until the agent restarts).
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

/** The address an alert is about (its kind's, common/alert-kinds.ts), in canonical form; undefined when its subject names none. */
export function alertSubjectAddress(alert: Alert): string | undefined {
  const raw = subjectAddress(alert);
  return raw ? normalizeIp(raw) : undefined;
}

/** The mute in force at `now` for the address an alert is about, if any. */
export function muteFor(alert: Alert, mutes: Pick<MuteStore, "find">, now: number): Mute | undefined {
  const ip = alertSubjectAddress(alert);
  return ip === undefined ? undefined : mutes.find("ip", ip, now);
}

/**
 * The pure decision. `mute`: the mute in force for the alert's address;
 * `wasMuted`: whether an earlier revision of this alert was muted. A new
 * alert is muted by a mute in force; a later revision only if its alert was
 * muted, and then while the mute lasts, or for good when it is the
 * resolution (nothing was shown).
 */
export function isMuted(alert: Alert, mute: Mute | undefined, wasMuted: boolean): boolean {
  if (wasMuted) return mute !== undefined || alert.state === AlertState.RESOLVED;
  return alert.revision <= 1 && mute !== undefined;
}

/** How many ids of muted alerts are remembered (to keep their lone resolution quiet after the mute ends). */
export const MAX_MUTED_IDS = 10_000;

export function createAlertMute(deps: AlertMuteDeps): AlertMute {
  const counts: Record<string, number> = {};
  /** Ids of alerts muted so far, oldest first. */
  const mutedIds = new Set<string>();
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
      const wasMuted = mutedIds.has(alert.id);
      if (!isMuted(alert, mute, wasMuted)) {
        if (wasMuted) mutedIds.delete(alert.id);
        return false;
      }
      if (alert.state === AlertState.RESOLVED) mutedIds.delete(alert.id);
      else if (!wasMuted) {
        if (mutedIds.size >= MAX_MUTED_IDS) mutedIds.delete(mutedIds.values().next().value!);
        mutedIds.add(alert.id);
      }
      const kind = AlertKind[alert.kind] ?? String(alert.kind);
      counts[kind] = (counts[kind] ?? 0) + 1;
      deps.logger.debug(
        {
          alertId: alert.id,
          revision: alert.revision,
          kind,
          severity: alert.severity,
          ip: mute?.key ?? alertSubjectAddress(alert),
          decision: mute === undefined ? "ended; resolution of a muted alert" : (mute.decision ?? "allow"),
          until: mute === undefined ? undefined : mute.until === null ? "revoked" : new Date(mute.until).toISOString(),
          actionId: mute?.actionId,
          mutedTotal: counts[kind],
        },
        "alert muted",
      );
      return true;
    },
    counts: () => ({ ...counts }),
  };
}
