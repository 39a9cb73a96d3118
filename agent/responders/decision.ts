import { Answer, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { parseIp } from "./ip-policy.js";
import type { MuteStore } from "./mute-store.js";
import { done, dryRunDone, durationMs, failed, humanDuration, refused } from "./outcome.js";
import type { ActionOutcome, Responder } from "./responder.js";

/**
 * ALLOW and IGNORE change nothing on the host: they record a time-boxed
 * decision that mutes re-alerts (an "allow" that does not stick gets the
 * same address alerted, and banned, again a minute later).
 *
 * ALLOW with target.ip mutes that address for options.duration (default
 * config.defaultAllowDuration). IGNORE with options.duration mutes the
 * address when the action names one, else the alert id; IGNORE without a
 * duration records nothing.
 */

export interface DecisionResponderDeps {
  mutes: MuteStore;
  logger: Logger;
  now: () => number;
  dryRun: boolean;
  /** Mute length for ALLOW without options.duration (ms; 0 = no mute). */
  defaultAllowDurationMs: number;
}

export function createDecisionResponder(deps: DecisionResponderDeps): Responder {
  return {
    name: "decision",
    answers: [Answer.ALLOW, Answer.IGNORE],
    async execute(action: ResponseAction): Promise<ActionOutcome> {
      const allow = action.answer === Answer.ALLOW;
      if (!allow && action.answer !== Answer.IGNORE) return refused(`decision does not carry out ${Answer[action.answer] ?? action.answer}`);
      const duration = durationMs(action.options?.duration);
      if (typeof duration === "object") return refused(duration.error);
      const target = action.target?.target;
      let ip: string | undefined;
      if (target?.case === "ip") {
        const parsed = parseIp(target.value);
        if (parsed === undefined) return refused(`${JSON.stringify(target.value.slice(0, 64))} is not an IP address`);
        ip = parsed.ip;
      } else if (target?.case !== undefined) {
        return refused(`${allow ? "ALLOW" : "IGNORE"} takes an address or nothing as target, not a ${target.case}`);
      }
      if (allow && ip === undefined) return refused("ALLOW needs an address (target.ip)");
      const ms = duration ?? (allow ? deps.defaultAllowDurationMs : 0);
      const verb = allow ? `allowed ${ip}` : `ignored${ip ? ` ${ip}` : ""}`;
      if (ms <= 0) return deps.dryRun ? dryRunDone(`record: ${verb}`) : done(verb);
      const scope = ip !== undefined ? "ip" : "alert";
      const key = ip ?? action.alertId;
      if (key === "") return done(`${verb} (no alert id to mute)`);
      const text = `${verb} for ${humanDuration(ms)}; re-alerts muted`;
      if (deps.dryRun) return dryRunDone(`record: ${text}`);
      try {
        deps.mutes.mute({ scope, key, until: deps.now() + ms, actionId: action.actionId });
        deps.logger.info({ scope, key, durationMs: ms }, "re-alerts muted");
        return done(text, { expiresAt: new Date(deps.now() + ms) });
      } catch (err) {
        return failed(`recording the decision failed: ${describeError(err)}`);
      }
    },
  };
}
