import { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord } from "../store/store.js";

export interface ActiveAllow {
  /** The done ALLOW action in force; its id goes into the Revoke button. */
  action: ActionRecord;
  agentId: string;
  ip: string;
  /** Undefined: until revoked. */
  expiresAt: Date | undefined;
}

/**
 * Active allows, derived from actions as the agents carried them out (the
 * way /blocks derives blocks): an ALLOW that is done (not a dry run), whose
 * end — the result's expires_at — has not passed, or that was sent with a
 * zero duration (until revoked), and that no later done REVOKE_ALLOW for the
 * same server and address ended. Of several allows of one address, the one
 * that ends last is in force (the agent never shortens an allow). An ALLOW
 * without expiry and without a zero duration recorded nothing on the agent
 * (its default allow duration is 0) and is not listed. Pure; ordered by
 * server, then address.
 */
export function activeAllows(actions: readonly ActionRecord[], now: number): ActiveAllow[] {
  const lastRevoke = new Map<string, number>();
  for (const action of actions) {
    if (action.answer !== Answer.REVOKE_ALLOW || action.state !== "done") continue;
    const ip = targetIp(action);
    if (!ip) continue;
    const key = keyOf(action.agentId, ip);
    lastRevoke.set(key, Math.max(lastRevoke.get(key) ?? -Infinity, doneAt(action)));
  }
  const best = new Map<string, ActiveAllow>();
  for (const action of actions) {
    if (action.answer !== Answer.ALLOW || action.state !== "done" || action.dryRun) continue;
    const ip = targetIp(action);
    if (!ip) continue;
    const end = endOf(action);
    if (end === undefined || end <= now) continue;
    const key = keyOf(action.agentId, ip);
    if ((lastRevoke.get(key) ?? -Infinity) >= doneAt(action)) continue;
    const previous = best.get(key);
    if (!previous || end > endOf(previous.action)! || (end === endOf(previous.action) && doneAt(action) > doneAt(previous.action))) {
      best.set(key, { action, agentId: action.agentId, ip, expiresAt: action.expiresAt });
    }
  }
  return [...best.values()].sort((a, b) => a.agentId.localeCompare(b.agentId) || a.ip.localeCompare(b.ip));
}

/** When an allow ends: its expiry, Infinity when sent with a zero duration, undefined when it recorded nothing. */
function endOf(action: ActionRecord): number | undefined {
  if (action.expiresAt) return action.expiresAt.getTime();
  const duration = action.options?.duration;
  if (duration && Number(duration.seconds) === 0 && duration.nanos === 0) return Infinity;
  return undefined;
}

function keyOf(agentId: string, ip: string): string {
  return `${agentId}\u0000${ip}`;
}

function targetIp(action: ActionRecord): string | undefined {
  const target = action.target?.target;
  return target?.case === "ip" ? target.value : undefined;
}

function doneAt(action: ActionRecord): number {
  return (action.finishedAt ?? action.requestedAt).getTime();
}
