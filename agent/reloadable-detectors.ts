import type { Logger } from "../common/log.js";
import type { Alert } from "../gen/secarc/v1/alert_pb.js";
import type { AgentConfig } from "./config.js";
import type { Detector } from "./detectors/detector.js";
import { createDetectors } from "./detectors/registry.js";
import { createDetectorSupervisor, type DetectorSupervisor } from "./supervisor.js";

/** Top-level agent config keys read once at start: a change waits for a restart. */
const RESTART_KEYS = ["agentId", "controller", "tls", "stateDir", "link", "responders", "block", "alerts", "log"] as const;

export interface ReloadableDetectorsDeps {
  initial: Detector[];
  emit: (alert: Alert) => void;
  logger: Logger;
  now: () => number;
  /** Builds detectors from a new config's section. */
  build: (section: AgentConfig["detectors"]) => Detector[];
}

/**
 * The agent's detectors under their supervisor, replaceable by a reload
 * (SIGHUP): the new section's detectors are built first (a bad one throws
 * and the running ones stay), then the old ones stop and the new ones start.
 * Log followers of the new detectors start at the end of their files.
 */
export function createReloadableDetectors(deps: ReloadableDetectorsDeps) {
  const { logger, now, emit } = deps;
  let detectors = deps.initial;
  let supervisor: DetectorSupervisor = createDetectorSupervisor({ detectors, emit, logger, now });
  return {
    list: () => detectors,
    start: () => supervisor.start(),
    stop: () => supervisor.stop(),
    /** Puts a validated config's detector section in force; resolves to the keys that need a restart. */
    async reload(previous: AgentConfig, next: AgentConfig): Promise<Array<keyof AgentConfig>> {
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      const needRestart = RESTART_KEYS.filter((key) => !same(previous[key], next[key]));
      if (needRestart.length > 0) logger.warn({ keys: needRestart }, `config reloaded; ${needRestart.join(", ")} changed and take effect after a restart`);
      if (same(previous.detectors, next.detectors)) {
        logger.info({ needRestart }, "config reloaded: detectors unchanged");
        return needRestart;
      }
      const fresh = deps.build(next.detectors);
      await supervisor.stop();
      detectors = fresh;
      supervisor = createDetectorSupervisor({ detectors, emit, logger, now });
      await supervisor.start();
      logger.info({ detectors: detectors.map((d) => d.name), needRestart }, "config reloaded: detectors started again with the new settings");
      return needRestart;
    },
  };
}
