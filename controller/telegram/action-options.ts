import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ActionOptionsSchema, Answer, type ActionOptions } from "../../gen/secarc/v1/action_pb.js";

/**
 * Options of an answer, from the bridge's config: how long Block IP blocks,
 * how long Reboot / Shut down wait; and from the operator's second tap, how
 * long Allow lasts (0 = until revoked, sent as a zero duration). (The target
 * is derived from the alert by ActionRequests.)
 */
export function optionsFor(answer: Answer, settings: { blockDurationMs: number; powerDelayMs: number; allowDurationMs?: number }): ActionOptions | undefined {
  switch (answer) {
    case Answer.BLOCK_IP:
      return create(ActionOptionsSchema, { duration: durationFromMs(settings.blockDurationMs) });
    case Answer.REBOOT:
    case Answer.SHUTDOWN:
      return create(ActionOptionsSchema, { delay: durationFromMs(settings.powerDelayMs) });
    case Answer.ALLOW:
      return settings.allowDurationMs === undefined ? undefined : create(ActionOptionsSchema, { duration: durationFromMs(settings.allowDurationMs) });
    default:
      return undefined;
  }
}
