import type { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { AgentResponders, ResponderContext } from "../../agent/agent-responders.js";
import { createMuteStore } from "../../agent/responders/mute-store.js";
import type { Responder } from "../../agent/responders/responder.js";

/**
 * startAgent's `responders` for a test that gives its own: every answer of
 * `responders` offered (no rights probe), the ALLOW / IGNORE entries in the
 * agent's state directory as usual, nothing to restore at start.
 */
export function givenResponders(responders: Map<Answer, Responder>): (context: ResponderContext) => AgentResponders {
  return (context) => ({
    responders,
    unavailable: [],
    mutes: createMuteStore(context.stateDir, context.now),
    restore: async () => undefined,
  });
}
