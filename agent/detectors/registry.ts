import type { Logger } from "../../common/log.js";
import type { DetectorsConfig } from "./config.js";
import type { Detector } from "./detector.js";

/** Builds the detectors the config enables. */
export function createDetectors(_config: DetectorsConfig, _deps: { logger: Logger; now: () => number }): Detector[] {
  return [];
}
