import type { DetectorSource } from "../../gen/secarc/v1/alert_pb.js";
import type { AgentKind } from "../../common/alert-kinds.js";
import { AGENT_KINDS, AGENT_KIND_ENTRIES, type DetectorName } from "./catalog.js";
import type { DetectorsConfig } from "./config.js";
import type { DetectorDeps } from "./detector-deps.js";
import type { Detector } from "./detector.js";
import { sourceToProto } from "./source-state.js";

export type { DetectorDeps } from "./detector-deps.js";
export type { DetectorName } from "./catalog.js";

/**
 * The detectors, by name, from the agent's catalog (catalog.ts): each kind's
 * entry says whether the config enables its detector and how to build it,
 * so a new AlertKind fails the build until a detector handles it.
 */
export const DETECTOR_NAMES: readonly DetectorName[] = AGENT_KIND_ENTRIES.map((entry) => entry.detector);

/** Which detector raises each alert kind (AGENT_OFFLINE and DETECTOR_BLIND are the controller's own; agents never raise them). */
export const DETECTOR_FOR_KIND = Object.fromEntries(AGENT_KIND_ENTRIES.map((entry) => [entry.kind, entry.detector])) as { [K in AgentKind]: (typeof AGENT_KINDS)[K]["detector"] };

/** Builds the detectors the config enables, in kind order. */
export function createDetectors(config: DetectorsConfig, deps: DetectorDeps): Detector[] {
  return AGENT_KIND_ENTRIES.filter((entry) => entry.enabled(config)).map((entry) => entry.create(config, deps));
}

/** Each detector's source as proto, for Hello and Heartbeat (detectors without one are left out). */
export function reportSources(detectors: readonly Detector[]): DetectorSource[] {
  return detectors.flatMap((d) => {
    const source = d.source?.();
    return source ? [sourceToProto(d.name, source)] : [];
  });
}
