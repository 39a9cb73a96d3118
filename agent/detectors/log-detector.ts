import type { DetectorContext } from "./detector.js";
import { journalSourceDetail } from "./journald-follower.js";
import { startLogRun } from "./log-detector-run.js";
import type { LogDetector, LogDetectorOptions, LogProcessor, LogSource } from "./log-source.js";
import { createSourceState, describeSourceReport, isBlind, type SourceReport, type SourceState } from "./source-state.js";

export {
  AUTH_LOG_STALE_MS,
  AUTO_REPROBE_MS,
  NO_SSH_SOURCE,
  chooseSshSource,
  sshLogSource,
  type ChosenSource,
  type LogDetector,
  type LogDetectorOptions,
  type LogProcessor,
  type LogSource,
} from "./log-source.js";

/**
 * Runs a LineProcessor live: lines from a followed file, a set of files
 * (paths and globs, one processor per file), or for sshd the journal; time
 * passing through one detector-wide tick timer. Processors are built afresh
 * at each start, so a restart by the supervisor begins clean. The detector
 * keeps its source state (following / waiting / no source / unreadable) and
 * logs every change.
 */

/** The state before start, from the configured source. */
function initialReport(source: LogSource): Omit<SourceReport, "since"> {
  if (source.type === "journald") return { kind: "journald", state: "waiting", detail: `${journalSourceDetail(source.units)} not started` };
  const what = source.type === "files" ? source.patterns.join(", ") : source.path;
  return { kind: "file", state: "waiting", detail: `${what} not opened yet` };
}

export function createLogDetector<P extends LogProcessor>(options: LogDetectorOptions<P>): LogDetector {
  let stopRun: (() => Promise<void>) | undefined;
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
      stopRun = await startLogRun(options, context, state);
    },
    async stop() {
      await stopRun?.();
      stopRun = undefined;
    },
  };
}
