import { Answer, ResultStatus, type Operator, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { formatUntil } from "./allow-list.js";
import type { Firewall } from "./firewall.js";
import { parseIp } from "./ip-policy.js";
import type { MuteStore } from "./mute-store.js";
import { done, dryRunDone, durationMs, failed, humanDuration, refused } from "./result.js";
import type { ResponderResult, Responder } from "./responder.js";

/**
 * ALLOW, IGNORE and REVOKE_ALLOW: time-boxed decisions that stick (an
 * "allow" that does not stick gets the same address alerted, and banned,
 * again a minute later).
 *
 * ALLOW with target.ip trusts the address for options.duration (zero: until
 * revoked; unset: config.defaultAllowDuration, where 0 records nothing): it
 * unblocks the address if this agent blocked it, then records an allow-list
 * entry in the mute store. While the entry lasts, the agent mutes new alerts
 * about the address and the firewall responder refuses BLOCK_IP on it.
 *
 * IGNORE with options.duration mutes the address when the action names one,
 * else the alert id; IGNORE without a duration records nothing.
 *
 * REVOKE_ALLOW with target.ip removes the address's entry (and its mute).
 */

export interface AllowResponderDeps {
  mutes: MuteStore;
  logger: Logger;
  now: () => number;
  dryRun: boolean;
  /** Allow length (and mute) for ALLOW without options.duration (ms; 0 = record nothing). */
  defaultAllowDurationMs: number;
  /** Unblocks an allowed address that this agent blocked. Default: no unblocking (tests of the decisions alone). */
  firewall?: Pick<Firewall, "isBlocked" | "unblock">;
}

/** "@op", else the display name, else "user 123"; undefined when the action names nobody. */
export function operatorLabel(operator: Operator | undefined): string | undefined {
  if (!operator) return undefined;
  if (operator.username) return `@${operator.username}`.slice(0, 64);
  if (operator.displayName) return operator.displayName.slice(0, 64);
  return operator.telegramUserId > 0n ? `user ${operator.telegramUserId.toString()}` : undefined;
}

export function createAllowResponder(deps: AllowResponderDeps): Responder {
  /** The action's address: undefined when it names none, a refusal when it names something else. */
  function addressOf(action: ResponseAction, name: string): string | undefined | ResponderResult {
    const target = action.target?.target;
    if (target === undefined) return undefined;
    if (target.case !== "ip") return refused(`${name} takes an address or nothing as target, not a ${target.case}`);
    const parsed = parseIp(target.value);
    if (parsed === undefined) return refused(`${JSON.stringify(target.value.slice(0, 64))} is not an IP address`);
    return parsed.ip;
  }

  async function allow(action: ResponseAction, ip: string, ms: number | undefined): Promise<ResponderResult> {
    // ms: > 0 a time-boxed entry, 0 until revoked, undefined nothing recorded.
    const now = deps.now();
    const until = ms === undefined ? undefined : ms === 0 ? null : now + ms;
    const verb =
      until === undefined ? `allowed ${ip}` : until === null ? `allowed ${ip} until revoked (alerts muted)` : `allowed ${ip} for ${humanDuration(ms!)} (alerts muted)`;
    const blocked = deps.firewall?.isBlocked(ip) ?? false;
    if (deps.dryRun) return dryRunDone(`record: ${verb}${blocked ? `; unblock ${ip}` : ""}`);
    let unblocked = "";
    if (blocked) {
      const lifted = await deps.firewall!.unblock(ip);
      if (lifted.status !== ResultStatus.DONE) return failed(`${ip} not allowed: unblocking it failed: ${lifted.detail}`);
      const networks = (lifted.networks ?? []).filter((n) => n !== ip);
      unblocked = networks.length > 0 ? `; unblocked ${networks.join(", ")}, which held it` : "; unblocked it";
    }
    if (until === undefined) return done(`${verb}${unblocked}`);
    try {
      const by = operatorLabel(action.requestedBy);
      deps.mutes.mute({ scope: "ip", key: ip, until, actionId: action.actionId, since: now, decision: "allow", ...(by ? { by } : {}) });
    } catch (err) {
      return failed(`${unblocked ? `${ip} unblocked, but ` : ""}recording the allow failed: ${describeError(err)}`);
    }
    deps.logger.info({ ip, until: until === null ? "revoked" : new Date(until).toISOString(), actionId: action.actionId, unblocked: blocked }, "address allowed; its alerts are muted");
    return done(`${verb}${unblocked}`, until === null ? {} : { expiresAt: new Date(until) });
  }

  async function ignore(action: ResponseAction, ip: string | undefined, ms: number | undefined): Promise<ResponderResult> {
    const verb = `ignored${ip ? ` ${ip}` : ""}`;
    if (ms === undefined || ms <= 0) return deps.dryRun ? dryRunDone(`record: ${verb}`) : done(verb);
    const scope = ip !== undefined ? "ip" : "alert";
    const key = ip ?? action.alertId;
    if (key === "") return done(`${verb} (no alert id to mute)`);
    const text = `${verb} for ${humanDuration(ms)}; re-alerts muted`;
    if (deps.dryRun) return dryRunDone(`record: ${text}`);
    const now = deps.now();
    try {
      deps.mutes.mute({ scope, key, until: now + ms, actionId: action.actionId, since: now, decision: "ignore" });
      deps.logger.info({ scope, key, durationMs: ms }, "re-alerts muted");
      return done(text, { expiresAt: new Date(now + ms) });
    } catch (err) {
      return failed(`recording the answer failed: ${describeError(err)}`);
    }
  }

  function revoke(ip: string): ResponderResult {
    if (deps.dryRun) return dryRunDone(`revoke the allow for ${ip}`);
    try {
      const removed = deps.mutes.remove("ip", ip, deps.now());
      if (removed === undefined) return done(`${ip} was not allowed; nothing to revoke`);
      deps.logger.info({ ip, actionId: removed.actionId }, "allow revoked; alerts about the address resume");
      const was = removed.until === null ? "until revoked" : `until ${formatUntil(removed.until)}`;
      return done(`allow of ${ip} revoked (was ${was}); its alerts are no longer muted`);
    } catch (err) {
      return failed(`revoking the allow of ${ip} failed: ${describeError(err)}`);
    }
  }

  return {
    name: "allow",
    answers: [Answer.ALLOW, Answer.IGNORE, Answer.REVOKE_ALLOW],
    async execute(action: ResponseAction): Promise<ResponderResult> {
      const name = Answer[action.answer] ?? String(action.answer);
      if (action.answer !== Answer.ALLOW && action.answer !== Answer.IGNORE && action.answer !== Answer.REVOKE_ALLOW) return refused(`the allow responder does not carry out ${name}`);
      const ip = addressOf(action, name);
      if (typeof ip === "object") return ip;
      if (action.answer === Answer.REVOKE_ALLOW) return ip === undefined ? refused("REVOKE_ALLOW needs an address (target.ip)") : revoke(ip);
      const duration = durationMs(action.options?.duration);
      if (typeof duration === "object") return refused(duration.error);
      if (action.answer === Answer.IGNORE) return ignore(action, ip, duration);
      if (ip === undefined) return refused("ALLOW needs an address (target.ip)");
      const ms = duration ?? (deps.defaultAllowDurationMs > 0 ? deps.defaultAllowDurationMs : undefined);
      return allow(action, ip, ms);
    },
  };
}
