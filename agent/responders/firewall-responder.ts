import { Answer, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import type { Firewall } from "./firewall.js";
import { durationMs, refused } from "./outcome.js";
import type { ActionOutcome, Responder } from "./responder.js";

/**
 * BLOCK_IP and UNBLOCK_IP: the action's target must be an address
 * (target.ip); the firewall checks it against the never-block policy.
 * options.duration gives the block's length (unset: the configured
 * default; zero: until unblocked).
 */
export function createFirewallResponder(firewall: Firewall): Responder {
  return {
    name: "firewall",
    answers: [Answer.BLOCK_IP, Answer.UNBLOCK_IP],
    async execute(action: ResponseAction): Promise<ActionOutcome> {
      const target = action.target?.target;
      if (target?.case !== "ip") return refused(`${Answer[action.answer] ?? action.answer} needs an address (target.ip)`);
      if (action.answer === Answer.UNBLOCK_IP) return firewall.unblock(target.value);
      if (action.answer !== Answer.BLOCK_IP) return refused(`the firewall does not carry out ${Answer[action.answer] ?? action.answer}`);
      const duration = durationMs(action.options?.duration);
      if (typeof duration === "object") return refused(duration.error);
      return firewall.block(target.value, duration);
    },
  };
}
