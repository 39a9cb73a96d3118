import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { DetectorSourceKind, DetectorSourceSchema, DetectorSourceState, type DetectorSource } from "../../gen/secarc/v1/alert_pb.js";

/**
 * Whether a detector sees anything. Each detector keeps one SourceState:
 * what it reads (a file, journald, a sampler) and in which state
 * (following, waiting for the file, no source at all, unreadable), since
 * when. The agent logs every change, prints it in `secarc agent --check`,
 * and reports it to the controller in Hello and Heartbeat, where a detector
 * blind for too long raises a warning.
 */

export type SourceKind = "file" | "journald" | "sampler";
export type SourceStateName = "following" | "waiting" | "no_source" | "unreadable";

/** One detector's source now. */
export interface SourceReport {
  kind: SourceKind;
  state: SourceStateName;
  /**
   * One line for operators: for "following", what is followed
   * ("/var/log/auth.log", "journald (ssh.service, sshd.service)"); otherwise
   * what is missing or wrong ("/var/log/nginx/access.log does not exist",
   * "no auth log and no sshd in journald", "/var/log/auth.log: EACCES").
   */
  detail: string;
  /** Since when it has been in this state, ms. */
  since: number;
}

const KIND = {
  file: DetectorSourceKind.FILE,
  journald: DetectorSourceKind.JOURNALD,
  sampler: DetectorSourceKind.SAMPLER,
} satisfies Record<SourceKind, DetectorSourceKind>;

const STATE = {
  following: DetectorSourceState.FOLLOWING,
  waiting: DetectorSourceState.WAITING,
  no_source: DetectorSourceState.NO_SOURCE,
  unreadable: DetectorSourceState.UNREADABLE,
} satisfies Record<SourceStateName, DetectorSourceState>;

const WORD = { following: "following", waiting: "waiting", no_source: "no source", unreadable: "unreadable" } satisfies Record<SourceStateName, string>;

/** "following /var/log/auth.log", "waiting: /var/log/nginx/access.log does not exist", "no source: ...". */
export function describeSourceReport(report: Pick<SourceReport, "state" | "detail">): string {
  if (!report.detail) return WORD[report.state];
  return report.state === "following" ? `${WORD.following} ${report.detail}` : `${WORD[report.state]}: ${report.detail}`;
}

/** Whether the detector sees nothing. */
export function isBlind(report: Pick<SourceReport, "state">): boolean {
  return report.state !== "following";
}

/** The proto form, for Hello and Heartbeat. */
export function sourceToProto(detector: string, report: SourceReport): DetectorSource {
  return create(DetectorSourceSchema, { detector, kind: KIND[report.kind], state: STATE[report.state], detail: report.detail, since: timestampFromMs(report.since) });
}

export interface SourceState {
  /** Sets the state; `since` moves only when state or detail change. Returns whether anything changed. */
  set(kind: SourceKind, state: SourceStateName, detail: string): boolean;
  get(): SourceReport;
}

/**
 * A detector's source state, starting as `initial` (before start: waiting).
 * `onChange` hears every change (the detector logs it).
 */
export function createSourceState(now: () => number, initial: Omit<SourceReport, "since">, onChange?: (report: SourceReport) => void): SourceState {
  let report: SourceReport = { ...initial, since: now() };
  return {
    set(kind, state, detail) {
      if (report.kind === kind && report.state === state && report.detail === detail) return false;
      report = { kind, state, detail, since: now() };
      onChange?.(report);
      return true;
    },
    get: () => report,
  };
}

/** The short reason of a file system error: "EACCES", "ENOENT", or its message. */
export function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : err instanceof Error ? err.message : String(err);
}
