import { create, toJson } from "@bufbuild/protobuf";
import { HeartbeatSchema, type AgentMessage } from "../gen/secarc/v1/agent_service_pb.js";
import type { DetectorSource } from "../gen/secarc/v1/alert_pb.js";
import { heartbeatMessage } from "./link/link-session.js";

/** How often detectors' sources are compared with what the controller was last told. */
export const SOURCE_WATCH_MS = 500;

export interface SourceWatchDeps {
  sources(): DetectorSource[];
  outboxDepth(): number;
  isConnected(): boolean;
  /** Sends on the live session; false when not sent. */
  send(message: AgentMessage): boolean;
  now: () => number;
}

/**
 * A detector's source that changes (the log appeared, journalctl died) is
 * told at once in a Heartbeat, not at the next periodic one. Returns the
 * stop function.
 */
export function watchDetectorSources(deps: SourceWatchDeps): () => void {
  let reported = "";
  const timer = setInterval(() => {
    const sources = deps.sources();
    const text = JSON.stringify(toJson(HeartbeatSchema, create(HeartbeatSchema, { detectorSources: sources })));
    if (text === reported || !deps.isConnected()) return;
    if (deps.send(heartbeatMessage(deps.now(), deps.outboxDepth(), sources))) reported = text;
  }, SOURCE_WATCH_MS);
  timer.unref();
  return () => clearInterval(timer);
}
