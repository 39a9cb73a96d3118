import type { LineProcessor, LineProcessorDeps, LineStats } from "./line-processor.js";
import { newLineStats } from "./line-processor.js";
import { latin1ToUtf8 } from "./nginx-log-parser.js";
import { parseSshLogLine, parseSshMessage, type SshEvent, type SshRecord } from "./ssh-log-parser.js";

/**
 * A processor of sshd log records, fed either with raw lines (auth log,
 * replay) or with records (journald). Shared by the SSH detectors.
 */
export interface SshRecordProcessor extends LineProcessor {
  /** One record that already has its message split from the prefix (journald). */
  record(record: SshRecord): void;
}

export interface SshProcessorDeps extends LineProcessorDeps {
  /**
   * Take event times from the lines (replay) instead of the clock (live,
   * where the clock is at least as precise and has the year). Default: false.
   */
  timeFromLines?: boolean;
}

export interface SshEventHandler {
  /** Handles one parsed event at time `at` (ms). */
  event(event: SshEvent, at: number, pid: number | undefined): void;
  tick(now: number): void;
  finish(): void;
}

export function createSshRecordProcessor(deps: SshProcessorDeps, handler: SshEventHandler, stats: LineStats = newLineStats()): SshRecordProcessor {
  let lastTime: number | undefined;

  function record(rec: SshRecord): void {
    const event = parseSshMessage(rec.message);
    if (event === null) return;
    if (event === undefined) {
      stats.malformed += 1;
      return;
    }
    let at: number;
    if (deps.timeFromLines) {
      at = rec.time ?? lastTime ?? deps.now();
      lastTime = at;
    } else {
      at = deps.now();
    }
    handler.event(event, at, rec.pid);
  }

  return {
    stats,
    record(rec) {
      stats.lines += 1;
      record(rec);
    },
    line(text, start, end) {
      stats.lines += 1;
      const line = latin1ToUtf8(text.slice(start, end));
      const rec = parseSshLogLine(line, lastTime ?? deps.now());
      if (rec !== undefined) record(rec);
    },
    tick: (now) => handler.tick(now),
    finish: () => handler.finish(),
  };
}
