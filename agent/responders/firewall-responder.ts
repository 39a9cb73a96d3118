import { Answer, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { describeError } from "../../common/errors.js";
import { allowCovering, blockRefusal, keptByAllows } from "./allow-list.js";
import type { Firewall } from "./firewall.js";
import type { MuteStore } from "./mute-store.js";
import { durationMs, failed, refused } from "./result.js";
import type { ResponderResult, Responder } from "./responder.js";

/** What the firewall responder consults besides the firewall. */
export interface FirewallResponderDeps {
  /** Allow-list entries made by ALLOW: BLOCK_IP on an allowed address is refused. Default: none consulted. */
  mutes?: MuteStore;
  /** The clock. Default: Date.now. */
  now?: () => number;
}

/**
 * BLOCK_IP and UNBLOCK_IP: the action's target must be an address
 * (target.ip); the firewall checks it against the never-block policy.
 * options.duration gives the block's length (unset: the configured
 * default; zero: until unblocked). An address allowed by ALLOW (or a
 * network containing one) is not blocked while the allow lasts: the
 * operator revokes the allow first (an allow that a later block, or the
 * no-answer policy, silently undid would not stick). A block widened to a
 * prefix is narrowed to leave the allowed addresses in it out.
 */
export function createFirewallResponder(firewall: Firewall, deps: FirewallResponderDeps = {}): Responder {
  const now = deps.now ?? Date.now;
  return {
    name: "firewall",
    answers: [Answer.BLOCK_IP, Answer.UNBLOCK_IP],
    async execute(action: ResponseAction): Promise<ResponderResult> {
      const target = action.target?.target;
      if (target?.case !== "ip") return refused(`${Answer[action.answer] ?? action.answer} needs an address (target.ip)`);
      if (action.answer === Answer.UNBLOCK_IP) return firewall.unblock(target.value);
      if (action.answer !== Answer.BLOCK_IP) return refused(`the firewall does not carry out ${Answer[action.answer] ?? action.answer}`);
      const duration = durationMs(action.options?.duration);
      if (typeof duration === "object") return refused(duration.error);
      if (!deps.mutes) return firewall.block(target.value, duration);
      let allowed;
      let kept;
      try {
        allowed = allowCovering(deps.mutes, target.value, now());
        kept = keptByAllows(deps.mutes, now());
      } catch (err) {
        return failed(`reading the allow-list failed: ${describeError(err)}`);
      }
      if (allowed) return refused(blockRefusal(target.value, allowed));
      // A block that covers a network (block.ipv6Prefix) leaves the allowed addresses in it out.
      return firewall.block(target.value, duration, kept);
    },
  };
}
