import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import type { Logger } from "../../common/log.js";
import type { SourceReport } from "./source-state.js";

/**
 * A detector turns OS facts into alerts. It is a plug-in with one file under
 * agent/detectors/, registered by name in the typed registry.
 *
 * Detectors build complete `Alert` messages (id from newId(), revision 1 and
 * up) and hand them to `emit`; the agent writes each one to its durable
 * outbox before sending it. A detector never retries by itself: `start`
 * resolves once it runs, and a fatal failure is reported through `onFailure`
 * so that the supervisor restarts it with backoff.
 */
export interface Detector {
  /** Registry name, e.g. "ssh-session", "nginx-404". */
  readonly name: string;
  /** The alert kinds it raises (advertised in Hello). */
  readonly kinds: readonly AlertKind[];
  start(context: DetectorContext): Promise<void>;
  stop(): Promise<void>;
  /**
   * What it reads and whether it sees anything (following / waiting / no
   * source / unreadable), for logs, `secarc agent --check` and the
   * controller. Detectors without one are not reported.
   */
  source?(): SourceReport;
}

export interface DetectorContext {
  /** Hands a new alert or a new revision of one to the outbox. */
  emit(alert: Alert): void;
  /** Reports a failure that stopped the detector; the supervisor restarts it. */
  onFailure(err: unknown): void;
  logger: Logger;
  /** The clock, injected for tests. */
  now(): number;
}
