import { SecarcError } from "../../common/errors.js";
import type { DetectorContext } from "./detector.js";
import { createJournaldFollower, journalHasEntries } from "./journald-follower.js";
import { createLineSplitter, type LineSplitter } from "./line-splitter.js";
import { AUTO_REPROBE_MS, chooseSshSource, type ChosenSource, type LogDetectorOptions, type LogProcessor, type LogSource } from "./log-source.js";
import { createLogFollower } from "./log-follower.js";
import { createLogSetFollower } from "./log-set-follower.js";
import type { SourceState, SourceStateName } from "./source-state.js";

/**
 * One start of a log detector (createLogDetector): its processors, line
 * splitters, follower and timers, from start until the stop it returns.
 */

interface Run<P extends LogProcessor> {
  options: LogDetectorOptions<P>;
  context: DetectorContext;
  sourceState: SourceState;
  processors: P[];
  splitters: LineSplitter[];
  stopFollowing: (() => Promise<void>) | undefined;
  timers: NodeJS.Timeout[];
  stopped: boolean;
  /** The journal files read instead of the system journal, when configured. */
  journalDirectory: string | undefined;
  fail(err: unknown): void;
}

/** Starts following the detector's source; resolves to its stop. */
export async function startLogRun<P extends LogProcessor>(options: LogDetectorOptions<P>, context: DetectorContext, sourceState: SourceState): Promise<() => Promise<void>> {
  const run: Run<P> = {
    options,
    context,
    sourceState,
    processors: [],
    splitters: [],
    stopFollowing: undefined,
    timers: [],
    stopped: false,
    journalDirectory: options.source.type === "journald" || options.source.type === "auto" ? options.source.directory : undefined,
    fail(err) {
      sourceState.set(sourceState.get().kind, "unreadable", err instanceof Error ? err.message : String(err));
      context.logger.error({ detector: options.name, err }, "detector failed");
      context.onFailure(err);
    },
  };
  const probe = options.journalProbe ?? ((units: readonly string[]) => journalHasEntries(units, "journalctl", run.journalDirectory));
  let source: LogSource | ChosenSource = options.source;
  if (source.type === "auto") source = await chooseSshSource(source, probe, context.now());
  if (source.type === "file") await followFile(run, source, probe);
  else if (source.type === "files") await followFiles(run, source.patterns);
  else await followJournal(run, source.units);
  startTick(run);
  return async () => {
    run.stopped = true;
    for (const timer of run.timers) clearInterval(timer);
    run.timers.length = 0;
    await run.stopFollowing?.();
    run.stopFollowing = undefined;
  };
}

function newProcessor<P extends LogProcessor>(run: Run<P>, file: string): P {
  const processor = run.options.makeProcessor({ emit: (alert) => run.context.emit(alert), now: () => run.context.now() }, file);
  run.processors.push(processor);
  return processor;
}

/** A processor and its line splitter for one file, as the followers feed them. */
function fileSink<P extends LogProcessor>(run: Run<P>, path: string) {
  const processor = newProcessor(run, path);
  const splitter = createLineSplitter((text, start, end) => processor.line(text, start, end), run.options.maxLineBytes);
  run.splitters.push(splitter);
  return {
    onData: (chunk: Buffer) => splitter.push(chunk),
    onReset: (reason: "rotated" | "truncated") => {
      splitter.reset();
      run.context.logger.info({ detector: run.options.name, path, reason }, "log file replaced");
    },
  };
}

async function followJournal<P extends LogProcessor>(run: Run<P>, units: readonly string[]): Promise<void> {
  const processor = newProcessor(run, "journald");
  const record = processor.record?.bind(processor);
  if (record === undefined) throw new SecarcError("config_invalid", `${run.options.name} cannot read the journal`);
  const follower = createJournaldFollower({
    units,
    ...(run.journalDirectory === undefined ? {} : { directory: run.journalDirectory }),
    onRecord: record,
    onError: run.fail,
    onState: (s, detail) => run.sourceState.set("journald", s, detail),
  });
  await follower.start();
  run.stopFollowing = () => follower.stop();
}

async function followFile<P extends LogProcessor>(run: Run<P>, source: { path: string; blindDetail?: string }, probe: (units: readonly string[]) => Promise<boolean>): Promise<void> {
  const { blindDetail } = source;
  const sink = fileSink(run, source.path);
  const follower = createLogFollower({
    path: source.path,
    pollMs: run.options.pollMs,
    onData: sink.onData,
    onReset: sink.onReset,
    onError: run.fail,
    onState: (s, detail) => {
      const named: SourceStateName = s === "waiting" && blindDetail ? "no_source" : s;
      run.sourceState.set("file", named, s === "waiting" && blindDetail ? blindDetail : detail);
    },
  });
  await follower.start();
  run.stopFollowing = () => follower.stop();
  const units = run.options.source.type === "auto" ? run.options.source.units : undefined;
  if (!blindDetail || !units) return;
  // No source yet: whichever comes first, the auth log (the follower) or sshd in journald (asked again here).
  let switched = false;
  const reprobe = setInterval(() => {
    if (run.sourceState.get().state !== "no_source") return;
    void probe(units)
      .then(async (found) => {
        if (!found || switched || run.stopped || run.sourceState.get().state !== "no_source") return;
        switched = true;
        clearInterval(reprobe);
        await follower.stop();
        await followJournal(run, units);
      })
      .catch(run.fail);
  }, run.options.autoReprobeMs ?? AUTO_REPROBE_MS);
  reprobe.unref();
  run.timers.push(reprobe);
}

async function followFiles<P extends LogProcessor>(run: Run<P>, patterns: readonly string[]): Promise<void> {
  const set = createLogSetFollower({
    patterns,
    pollMs: run.options.pollMs,
    openFile: (path) => fileSink(run, path),
    onError: run.fail,
    onState: (s, detail) => run.sourceState.set("file", s, detail),
  });
  await set.start();
  run.stopFollowing = () => set.stop();
}

/** Time passing for every processor; skipped lines are reported at most once a minute, as counts. */
function startTick<P extends LogProcessor>(run: Run<P>): void {
  const { context, processors, splitters } = run;
  const sum = (pick: (p: P) => number) => processors.reduce((n, p) => n + pick(p), 0);
  let reported = { malformed: 0, oversized: 0, at: context.now() };
  const timer = setInterval(() => {
    const now = context.now();
    for (const p of processors) p.tick(now);
    if (now - reported.at < 60_000) return;
    const counts = { malformed: sum((p) => p.stats.malformed), oversized: splitters.reduce((n, s) => n + s.oversized, 0) };
    if (counts.malformed !== reported.malformed || counts.oversized !== reported.oversized) {
      context.logger.warn(
        { detector: run.options.name, malformed: counts.malformed - reported.malformed, oversized: counts.oversized - reported.oversized, lines: sum((p) => p.stats.lines) },
        "skipped malformed lines / cut oversized lines",
      );
    }
    reported = { ...counts, at: now };
  }, run.options.tickMs ?? 1000);
  timer.unref();
  run.timers.push(timer);
}
