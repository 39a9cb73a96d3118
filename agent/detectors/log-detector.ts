import { stat } from "node:fs/promises";
import { SecarcError } from "../../common/errors.js";
import type { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import type { Detector, DetectorContext } from "./detector.js";
import { createJournaldFollower, journalHasEntries, journalSourceDetail } from "./journald-follower.js";
import { createLineSplitter, type LineSplitter } from "./line-splitter.js";
import type { LineProcessor, LineProcessorDeps } from "./line-processor.js";
import { createLogFollower } from "./log-follower.js";
import { createLogSetFollower } from "./log-set-follower.js";
import { createSourceState, describeSourceReport, isBlind, type SourceReport, type SourceState, type SourceStateName } from "./source-state.js";
import type { SshRecordProcessor } from "./ssh-record-processor.js";

/**
 * Runs a LineProcessor live: lines from a followed file, a set of files
 * (paths and globs, one processor per file), or for sshd the journal; time
 * passing through one detector-wide tick timer. Processors are built afresh
 * at each start, so a restart by the supervisor begins clean. The detector
 * keeps its source state (following / waiting / no source / unreadable) and
 * logs every change.
 */

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

/** The state before start, from the configured source. */
function initialReport(source: LogSource): Omit<SourceReport, "since"> {
  if (source.type === "journald") return { kind: "journald", state: "waiting", detail: `${journalSourceDetail(source.units)} not started` };
  const what = source.type === "files" ? source.patterns.join(", ") : source.path;
  return { kind: "file", state: "waiting", detail: `${what} not opened yet` };
}

export function createLogDetector<P extends LogProcessor>(options: LogDetectorOptions<P>): LogDetector {
  let stopFollowing: (() => Promise<void>) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reprobe: NodeJS.Timeout | undefined;
  let state: SourceState | undefined;
  const initial = initialReport(options.source);
  const report = (): SourceReport => state?.get() ?? { ...initial, since: 0 };

  return {
    name: options.name,
    kinds: options.kinds,
    source: report,
    async start(context: DetectorContext) {
      state ??= createSourceState(context.now, initial, (r) => {
        const line = `${options.name}: ${describeSourceReport(r)}`;
        if (isBlind(r)) context.logger.warn({ detector: options.name, source: r.state, detail: r.detail }, line);
        else context.logger.info({ detector: options.name, source: r.state, detail: r.detail }, line);
      });
      const sourceState = state;
      const processors: P[] = [];
      const splitters: LineSplitter[] = [];
      const newProcessor = (file: string): P => {
        const p = options.makeProcessor({ emit: (alert) => context.emit(alert), now: () => context.now() }, file);
        processors.push(p);
        return p;
      };
      const fail = (err: unknown) => {
        sourceState.set(report().kind, "unreadable", err instanceof Error ? err.message : String(err));
        context.logger.error({ detector: options.name, err }, "detector failed");
        context.onFailure(err);
      };
      const fileSink = (path: string) => {
        const processor = newProcessor(path);
        const splitter = createLineSplitter((text, start, end) => processor.line(text, start, end), options.maxLineBytes);
        splitters.push(splitter);
        return {
          onData: (chunk: Buffer) => splitter.push(chunk),
          onReset: (reason: "rotated" | "truncated") => {
            splitter.reset();
            context.logger.info({ detector: options.name, path, reason }, "log file replaced");
          },
        };
      };

      const journalDirectory = options.source.type === "journald" || options.source.type === "auto" ? options.source.directory : undefined;
      const followJournal = async (units: readonly string[]): Promise<void> => {
        const processor = newProcessor("journald");
        const record = processor.record?.bind(processor);
        if (record === undefined) throw new SecarcError("config_invalid", `${options.name} cannot read the journal`);
        const follower = createJournaldFollower({
          units,
          ...(journalDirectory === undefined ? {} : { directory: journalDirectory }),
          onRecord: record,
          onError: fail,
          onState: (s, detail) => sourceState.set("journald", s, detail),
        });
        await follower.start();
        stopFollowing = () => follower.stop();
      };
      const probe = options.journalProbe ?? ((units: readonly string[]) => journalHasEntries(units, "journalctl", journalDirectory));
      let source: LogSource | ChosenSource = options.source;
      if (source.type === "auto") source = await chooseSshSource(source, probe, context.now());
      if (source.type === "file") {
        const blindDetail = "blindDetail" in source ? source.blindDetail : undefined;
        const sink = fileSink(source.path);
        const follower = createLogFollower({
          path: source.path,
          pollMs: options.pollMs,
          onData: sink.onData,
          onReset: sink.onReset,
          onError: fail,
          onState: (s, detail) => {
            const named: SourceStateName = s === "waiting" && blindDetail ? "no_source" : s;
            sourceState.set("file", named, s === "waiting" && blindDetail ? blindDetail : detail);
          },
        });
        await follower.start();
        stopFollowing = () => follower.stop();
        const units = options.source.type === "auto" ? options.source.units : undefined;
        if (blindDetail && units) {
          // No source yet: whichever comes first, the auth log (the follower) or sshd in journald (asked again here).
          reprobe = setInterval(() => {
            if (sourceState.get().state !== "no_source") return;
            void probe(units).then(async (found) => {
              if (!found || reprobe === undefined || sourceState.get().state !== "no_source") return;
              clearInterval(reprobe);
              reprobe = undefined;
              await follower.stop();
              await followJournal(units);
            }).catch(fail);
          }, options.autoReprobeMs ?? AUTO_REPROBE_MS);
          reprobe.unref();
        }
      } else if (source.type === "files") {
        const set = createLogSetFollower({
          patterns: source.patterns,
          pollMs: options.pollMs,
          openFile: fileSink,
          onError: fail,
          onState: (s, detail) => sourceState.set("file", s, detail),
        });
        await set.start();
        stopFollowing = () => set.stop();
      } else {
        await followJournal(source.units);
      }
      // Skipped lines are reported at most once a minute, as counts.
      const sum = (pick: (p: P) => number) => processors.reduce((n, p) => n + pick(p), 0);
      let reported = { malformed: 0, oversized: 0, at: context.now() };
      timer = setInterval(() => {
        const now = context.now();
        for (const p of processors) p.tick(now);
        if (now - reported.at < 60_000) return;
        const counts = { malformed: sum((p) => p.stats.malformed), oversized: splitters.reduce((n, s) => n + s.oversized, 0) };
        if (counts.malformed !== reported.malformed || counts.oversized !== reported.oversized) {
          context.logger.warn(
            { detector: options.name, malformed: counts.malformed - reported.malformed, oversized: counts.oversized - reported.oversized, lines: sum((p) => p.stats.lines) },
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
      if (reprobe) clearInterval(reprobe);
      reprobe = undefined;
      await stopFollowing?.();
      stopFollowing = undefined;
    },
  };
}
