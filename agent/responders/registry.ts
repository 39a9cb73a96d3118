import type { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { Logger } from "../../common/log.js";
import type { RespondersConfig } from "./config.js";
import type { Responder } from "./responder.js";

/** Context the agent gives responders: addresses that must never be blocked, among others. */
export interface ResponderDeps {
  logger: Logger;
  now: () => number;
  /** The controller's address(es), never blocked. */
  controllerAddresses: string[];
  /** A directory the responders may keep state in (e.g. active blocks to re-apply). */
  stateDir: string;
}

/** Builds the responders, keyed by the answers they carry out. */
export function createResponders(_config: RespondersConfig, _deps: ResponderDeps): Map<Answer, Responder> {
  return new Map();
}
