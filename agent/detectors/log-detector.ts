import { existsSync } from "node:fs";
import { SecarcError } from "../../common/errors.js";
import type { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import type { Detector, DetectorContext } from "./detector.js";
import { createJournaldFollower } from "./journald-follower.js";
import { createLineSplitter } from "./line-splitter.js";
import type { LineProcessor, LineProcessorDeps } from "./line-processor.js";
import { createLogFollower } from "./log-follower.js";
import type { SshRecordProcessor } from "./ssh-record-processor.js";

/**
 * Runs a LineProcessor live: lines from a followed file (or, for sshd, from
 * the journal), time passing through one detector-wide tick timer. The
 * processor is built afresh at each start, so a restart by the supervisor
 * begins clean.
 */

/** Where a log detector's lines come from. */
export type LogSource = { type: "file"; path: string } | { type: "journald"; units: readonly string[] };

/** A line processor, which may also take journal records (the SSH ones do). */
export type LogProcessor = LineProcessor & Partial<Pick<SshRecordProcessor, "record">>;

export interface LogDetectorOptions<P extends LogProcessor> {
  name: string;
  kinds: readonly AlertKind[];
  source: LogSource;
  makeProcessor(deps: LineProcessorDeps): P;
  /** Lines longer than this are cut. */
  maxLineBytes: number;
  /** Stat polling period of the file follower, ms. */
  pollMs: number;
  /** Period of the tick that resolves ended bursts, ms. Default: 1000. */
  tickMs?: number;
}

export function createLogDetector<P extends LogProcessor>(options: LogDetectorOptions<P>): Detector {
  let stopFollowing: (() => Promise<void>) | undefined;
  let timer: NodeJS.Timeout | undefined;

  return {
    name: options.name,
    kinds: options.kinds,
    async start(context: DetectorContext) {
      const processor = options.makeProcessor({ emit: (alert) => context.emit(alert), now: () => context.now() });
      const fail = (err: unknown) => {
        context.logger.error({ detector: options.name, err }, "detector failed");
        context.onFailure(err);
      };
      let oversized = (): number => 0;
      if (options.source.type === "file") {
        const path = options.source.path;
        const splitter = createLineSplitter((text, start, end) => processor.line(text, start, end), options.maxLineBytes);
        const follower = createLogFollower({
          path: options.source.path,
          pollMs: options.pollMs,
          onData: (chunk) => splitter.push(chunk),
          onReset: (reason) => {
            splitter.reset();
            context.logger.info({ detector: options.name, path, reason }, "log file replaced");
          },
          onError: fail,
        });
        await follower.start();
        stopFollowing = () => follower.stop();
        oversized = () => splitter.oversized;
      } else {
        const record = processor.record?.bind(processor);
        if (record === undefined) throw new SecarcError("config_invalid", `${options.name} cannot read the journal`);
        const follower = createJournaldFollower({ units: options.source.units, onRecord: record, onError: fail });
        await follower.start();
        stopFollowing = () => follower.stop();
      }
      // Skipped lines are reported at most once a minute, as counts.
      let reported = { malformed: 0, oversized: 0, at: context.now() };
      timer = setInterval(() => {
        const now = context.now();
        processor.tick(now);
        if (now - reported.at < 60_000) return;
        const counts = { malformed: processor.stats.malformed, oversized: oversized() };
        if (counts.malformed !== reported.malformed || counts.oversized !== reported.oversized) {
          context.logger.warn(
            { detector: options.name, malformed: counts.malformed - reported.malformed, oversized: counts.oversized - reported.oversized, lines: processor.stats.lines },
            "skipped malformed lines / cut oversized lines",
          );
        }
        reported = { ...counts, at: now };
      }, options.tickMs ?? 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await stopFollowing?.();
      stopFollowing = undefined;
    },
  };
}

/**
 * Chooses the SSH log source: the configured one, or for "auto" the auth log
 * when it exists, else the journal when this host runs systemd-journald,
 * else the auth log (followed once it appears).
 */
export function chooseSshSource(config: { source: "auto" | "file" | "journald"; authLog: string; journalUnits: readonly string[] }): LogSource {
  const file: LogSource = { type: "file", path: config.authLog };
  const journal: LogSource = { type: "journald", units: config.journalUnits };
  if (config.source === "file") return file;
  if (config.source === "journald") return journal;
  if (existsSync(config.authLog)) return file;
  return existsSync("/run/systemd/journal/socket") ? journal : file;
}
