import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ActionOptionsSchema, Answer, type ActionOptions } from "../../gen/secarc/v1/action_pb.js";

/**
 * Options of an answer, from the bridge's config: how long Block IP blocks,
 * how long Reboot / Shut down wait. (The target is derived from the alert by
 * ActionRequests.)
 */
export function optionsFor(answer: Answer, settings: { blockDurationMs: number; powerDelayMs: number }): ActionOptions | undefined {
  switch (answer) {
    case Answer.BLOCK_IP:
      return create(ActionOptionsSchema, { duration: durationFromMs(settings.blockDurationMs) });
    case Answer.REBOOT:
    case Answer.SHUTDOWN:
      return create(ActionOptionsSchema, { delay: durationFromMs(settings.powerDelayMs) });
    default:
      return undefined;
  }
}
