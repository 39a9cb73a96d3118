import type { Duration } from "@bufbuild/protobuf/wkt";
import { ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { formatDuration } from "../../common/duration.js";
import type { ResponderResult } from "./responder.js";

/** Small constructors for responder results, and reading action options. */

export function done(detail: string, extra: Partial<ResponderResult> = {}): ResponderResult {
  return { status: ResultStatus.DONE, detail, ...extra };
}

/** Not attempted: unsafe or invalid. `detail` starts with "refused: ". */
export function refused(detail: string): ResponderResult {
  return { status: ResultStatus.REFUSED, detail: detail.startsWith("refused: ") ? detail : `refused: ${detail}` };
}

export function failed(detail: string): ResponderResult {
  return { status: ResultStatus.FAILED, detail };
}

/** A dry-run result: what would have run, reported as done. */
export function dryRunDone(what: string, extra: Partial<ResponderResult> = {}): ResponderResult {
  return { status: ResultStatus.DONE, detail: `dry run: would ${what}`, dryRun: true, ...extra };
}

/**
 * A protobuf Duration in milliseconds: undefined when unset, or an error
 * text when negative or absurd (more than 10 years).
 */
export function durationMs(value: Duration | undefined): number | undefined | { error: string } {
  if (value === undefined) return undefined;
  const ms = Number(value.seconds) * 1000 + Math.round(value.nanos / 1e6);
  if (!Number.isFinite(ms) || ms < 0) return { error: "duration must not be negative" };
  if (ms > 10 * 365 * 86_400_000) return { error: "duration is longer than 10 years" };
  return ms;
}

/** A duration for operators: whole hours as hours ("24h", "48h"), else compact ("1m30s"). */
export function humanDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return formatDuration(ms);
}
