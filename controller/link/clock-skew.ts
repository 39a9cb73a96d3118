import type { Logger } from "../../common/log.js";
import type { StoreOperations } from "../store/store.js";

/** An agent clock further than this from the controller's is logged and shown in /status. */
export const CLOCK_SKEW_LIMIT_MS = 30_000;
/** A new measurement is stored when it differs this much from the stored one. */
const STORE_STEP_MS = 1_000;

/** True when a skew is large enough to show the agent's time beside the controller's. */
export function isSkewed(skewMs: number | undefined): skewMs is number {
  return skewMs !== undefined && Math.abs(skewMs) > CLOCK_SKEW_LIMIT_MS;
}

/** "+5m 0s" / "-1h 0m": a skew for logs and chats. */
export function describeSkew(skewMs: number): string {
  const sign = skewMs < 0 ? "-" : "+";
  const s = Math.round(Math.abs(skewMs) / 1000);
  if (s >= 3600) return `${sign}${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${sign}${Math.floor(s / 60)}m ${s % 60}s`;
  return `${sign}${s}s`;
}

export interface ClockWatchDeps {
  log: Logger;
  agentId: string;
  /** The link's group commit. */
  track<T>(write: (tx: StoreOperations) => Promise<T>, then: (value: T) => void): void;
  /** The skew stored for the agent when its stream opened (AgentRecord.clockSkewMs), if known. */
  storedSkewMs: number | undefined;
  /** With replicas: stores a new skew outside the group commit (true), or cannot (false: `track` does). Default: none. */
  storeSkew?: ((skewMs: number) => boolean) | undefined;
}

/**
 * One session's comparison of the agent's clock with the controller's: each
 * Heartbeat.sent_at against its receive time (the link's delay counts as
 * skew; on a LAN it is milliseconds). Stored per agent (AgentRecord
 * .clockSkewMs, for /status, `secarc status` and the alert messages), and
 * logged as a warning when it goes over 30 s, as info when it is back.
 */
export function createClockWatch(deps: ClockWatchDeps): (sentAtMs: number, receivedAtMs: number) => void {
  let stored = deps.storedSkewMs;
  let warned = false;
  return (sentAtMs, receivedAtMs) => {
    const skewMs = sentAtMs - receivedAtMs;
    if (isSkewed(skewMs) && !warned) {
      warned = true;
      deps.log.warn({ agentId: deps.agentId, clockSkewMs: skewMs }, `agent ${deps.agentId}'s clock is ${describeSkew(skewMs)} off the controller's (more than ${CLOCK_SKEW_LIMIT_MS / 1000} s): times are shown in the controller's clock; check NTP on the agent host`);
    } else if (!isSkewed(skewMs) && warned) {
      warned = false;
      deps.log.info({ agentId: deps.agentId, clockSkewMs: skewMs }, `agent ${deps.agentId}'s clock agrees with the controller's again`);
    }
    if (stored !== undefined && Math.abs(stored - skewMs) < STORE_STEP_MS) return;
    stored = skewMs;
    if (!deps.storeSkew?.(skewMs)) deps.track((tx) => tx.setClockSkew(deps.agentId, skewMs), () => {});
  };
}
