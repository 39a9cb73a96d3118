import type { Alert } from "../../gen/secarc/v1/alert_pb.js";

/**
 * The pure part of a log detector: lines in, alerts out, with time taken
 * from the lines (or the injected clock when a line carries none). The same
 * processor runs live (fed by a follower, ticked by a timer) and in
 * `secarc replay` (fed by a file as fast as it can be read).
 */
export interface LineProcessor {
  /** One line: chars [start, end) of latin1-decoded `text` (one char per byte). */
  line(text: string, start: number, end: number): void;
  /** Time passed: resolves what ended by `now`. */
  tick(now: number): void;
  /** End of input (replay): resolves everything still open. */
  finish(): void;
  readonly stats: LineStats;
}

export interface LineStats {
  /** Lines seen. */
  lines: number;
  /** Lines that could not be parsed (counted and skipped). */
  malformed: number;
  /** Lines this detector counted as events (404s, failed logins, logins). */
  events: number;
}

/** What every line processor is built with. */
export interface LineProcessorDeps {
  emit(alert: Alert): void;
  /** The clock for lines without their own time, and for new alert ids. */
  now(): number;
}

export function newLineStats(): LineStats {
  return { lines: 0, malformed: 0, events: 0 };
}
