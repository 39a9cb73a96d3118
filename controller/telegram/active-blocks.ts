import { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord } from "../store/store.js";

export interface ActiveBlock {
  /** The done BLOCK_IP action; its id goes into the Unblock button. */
  action: ActionRecord;
  agentId: string;
  /** The address the block was asked for. */
  ip: string;
  /** What the agent blocks: the network around `ip` its block prefix covers ("2001:db8:1:2::/64"), else `ip`. */
  blocked: string;
  /** Undefined: until unblocked. */
  expiresAt: Date | undefined;
}

/**
 * Active blocks, derived from actions: a BLOCK_IP that is done, whose expiry
 * has not passed, and that no later done UNBLOCK_IP or ALLOW (which unblocks)
 * for the same server and address — or that lifted the network it covers —
 * undid. Pure; ordered by server, then address.
 */
export function activeBlocks(actions: readonly ActionRecord[], now: number): ActiveBlock[] {
  const unblocks = actions.filter((a) => (a.answer === Answer.UNBLOCK_IP || a.answer === Answer.ALLOW) && a.state === "done" && !a.dryRun);
  const latest = new Map<string, ActiveBlock>();
  for (const action of actions) {
    if (action.answer !== Answer.BLOCK_IP || action.state !== "done") continue;
    const ip = targetIp(action);
    if (!ip) continue;
    if (action.expiresAt && action.expiresAt.getTime() <= now) continue;
    const blocked = action.networks?.[0] ?? ip;
    const lifts = (u: ActionRecord): boolean => targetIp(u) === ip || (u.networks ?? []).includes(blocked);
    const undone = unblocks.some((u) => u.agentId === action.agentId && lifts(u) && doneAt(u) >= doneAt(action));
    if (undone) continue;
    const key = `${action.agentId}\u0000${blocked}`;
    const previous = latest.get(key);
    if (!previous || doneAt(action) >= doneAt(previous.action)) latest.set(key, { action, agentId: action.agentId, ip, blocked, expiresAt: action.expiresAt });
  }
  return [...latest.values()].sort((a, b) => a.agentId.localeCompare(b.agentId) || a.blocked.localeCompare(b.blocked));
}

function targetIp(action: ActionRecord): string | undefined {
  const target = action.target?.target;
  if (target?.case === "ip") return target.value;
  if (target?.case === "session") return target.value.sourceIp;
  return undefined;
}

function doneAt(action: ActionRecord): number {
  return (action.finishedAt ?? action.requestedAt).getTime();
}
