import { stat } from "node:fs/promises";
import type { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import type { Detector } from "./detector.js";
import type { LineProcessor, LineProcessorDeps } from "./line-processor.js";
import type { SourceReport } from "./source-state.js";
import type { SshRecordProcessor } from "./ssh-record-processor.js";

/** A log detector's options and sources, and the choice of the SSH source ("auto"). */

/** Where a log detector's lines come from. */
export type LogSource =
  | { type: "file"; path: string }
  | { type: "files"; patterns: readonly string[] }
  | { type: "journald"; units: readonly string[]; directory?: string }
  /** sshd's: chosen at start by `chooseSshSource`. `directory`: journal files read instead of the system journal. */
  | { type: "auto"; path: string; units: readonly string[]; directory?: string };

/** A line processor, which may also take journal records (the SSH ones do). */
export type LogProcessor = LineProcessor & Partial<Pick<SshRecordProcessor, "record">>;

export interface LogDetectorOptions<P extends LogProcessor> {
  name: string;
  kinds: readonly AlertKind[];
  source: LogSource;
  /** A processor; `file` is the log it reads (for "files" sources: each matched file). */
  makeProcessor(deps: LineProcessorDeps, file: string): P;
  /** Lines longer than this are cut. */
  maxLineBytes: number;
  /** Stat polling period of the file follower, ms. */
  pollMs: number;
  /** Period of the tick that resolves ended bursts, ms. Default: 1000. */
  tickMs?: number;
  /** Whether the journal has entries of these units ("auto" sources). Default: journalctl. */
  journalProbe?: (units: readonly string[]) => Promise<boolean>;
  /** While "auto" has no source, how often the journal is asked again, ms. Default: AUTO_REPROBE_MS. */
  autoReprobeMs?: number;
}

/** A log detector also says where it reads from. */
export interface LogDetector extends Detector {
  source(): SourceReport;
}

/** The auth log counts as abandoned (for "auto") when nothing was written to it for this long. */
export const AUTH_LOG_STALE_MS = 24 * 3_600_000;

export const NO_SSH_SOURCE = "no auth log and no sshd in journald";

/** While "auto" has no source, how often journald is asked again whether sshd logs there. */
export const AUTO_REPROBE_MS = 30_000;

/** What "auto" (or a fixed choice) resolves to; `blindDetail`: follow the file, but say there is no source while it is missing. */
export type ChosenSource = { type: "file"; path: string; blindDetail?: string } | { type: "journald"; units: readonly string[] };

/**
 * Chooses the SSH log source for "auto": the auth log when it exists and
 * was written within AUTH_LOG_STALE_MS; else the journal when it has sshd
 * entries; else the auth log if it exists at all; else no source (the auth
 * log is followed as soon as it appears).
 */
export async function chooseSshSource(
  source: { type: "auto"; path: string; units: readonly string[] },
  probe: (units: readonly string[]) => Promise<boolean>,
  now: number,
): Promise<ChosenSource> {
  const info = await stat(source.path).catch(() => undefined);
  if (info && now - info.mtimeMs < AUTH_LOG_STALE_MS) return { type: "file", path: source.path };
  if (await probe(source.units)) return { type: "journald", units: source.units };
  if (info) return { type: "file", path: source.path };
  return { type: "file", path: source.path, blindDetail: NO_SSH_SOURCE };
}

/** The configured SSH source of a detector section. */
export function sshLogSource(config: {
  source: "auto" | "file" | "journald";
  authLog: string;
  journalUnits: readonly string[];
  journalDirectory?: string | undefined;
}): LogSource {
  const directory = config.journalDirectory === undefined ? {} : { directory: config.journalDirectory };
  if (config.source === "file") return { type: "file", path: config.authLog };
  if (config.source === "journald") return { type: "journald", units: config.journalUnits, ...directory };
  return { type: "auto", path: config.authLog, units: config.journalUnits, ...directory };
}

