import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import cron from "node-cron";
import { SHARED_KINDS } from "../../common/alert-kinds.js";
import { AlertKind, AlertState, CpuUsageSchema, ProcessUsageSchema, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { buildAlert, newTrack, type AlertTrack } from "./alert-builder.js";
import { cronExpressionFor, type CpuSustainedConfig } from "./config.js";
import { errorCode, type SourceReport } from "./source-state.js";
import { createProcCpuSampler, type CpuReading, type CpuSampler } from "./cpu-sampler.js";
import type { Detector } from "./detector.js";

/**
 * Sustained CPU: alert when total usage stays at or above a threshold for
 * `sustainSamples` consecutive samples (a single spike is ignored). WARNING
 * at `warning` %, CRITICAL at `critical` % (inclusive). While usage stays
 * high there is no repeat; reaching critical for the sustain window
 * escalates the same alert (new revision); a sample below `warning`
 * resolves it. Answers: IGNORE, REBOOT, SHUTDOWN, KILL_PROCESS.
 *
 * Sampling runs on node-cron with a seconds field ("*\/30 * * * * *" for
 * 30 s): samples land on wall-clock boundaries, and the schedule is the
 * package the product fixed for sampling detectors. The config accepts only
 * intervals a cron step can express (see cronExpressionFor). Tests inject
 * their own schedule and sampler.
 */

export type CpuSettings = Pick<CpuSustainedConfig, "interval" | "sustainSamples" | "warning" | "critical">;

/** The decision part: one reading in, alert revisions out. Pure but for `emit`. */
export interface CpuEvaluator {
  observe(reading: CpuReading, at: number): void;
}

export function createCpuEvaluator(settings: CpuSettings, emit: (alert: Alert) => void): CpuEvaluator {
  const recent: number[] = [];
  let streakStart = 0;
  let track: AlertTrack | undefined;
  let level: 0 | 1 | 2 = 0;

  function send(at: number, state: AlertState, reading: CpuReading): void {
    const window = recent.slice(-settings.sustainSamples);
    const average = window.reduce((sum, p) => sum + p, 0) / Math.max(window.length, 1);
    const threshold = level === 2 ? settings.critical : settings.warning;
    const severity = level === 2 ? Severity.CRITICAL : Severity.WARNING;
    const sustained = state === AlertState.RESOLVED ? at - streakStart : at - streakStart + settings.interval;
    emit(
      buildAlert(track!, AlertKind.CPU_SUSTAINED, SHARED_KINDS[AlertKind.CPU_SUSTAINED].answers, at, {
        severity,
        state,
        summary:
          state === AlertState.RESOLVED
            ? `CPU usage back to ${reading.percent.toFixed(0)}% (below ${settings.warning}%)`
            : `CPU usage ${average.toFixed(0)}% (≥ ${threshold}%) for ${Math.round(sustained / 1000)}s`,
        subject: {
          case: "cpu",
          value: create(CpuUsageSchema, {
            percent: Math.round((state === AlertState.RESOLVED ? reading.percent : average) * 10) / 10,
            threshold,
            sustained: durationFromMs(Math.max(0, sustained)),
            top: reading.top.map((p) => create(ProcessUsageSchema, { pid: p.pid, name: p.name, cpuPercent: p.cpuPercent, startTicks: p.startTicks, user: p.user })),
          }),
        },
      }),
    );
  }

  return {
    observe(reading, at) {
      if (reading.percent < settings.warning) {
        recent.length = 0;
        if (track !== undefined && level > 0) send(at, AlertState.RESOLVED, reading);
        track = undefined;
        level = 0;
        return;
      }
      if (recent.length === 0) streakStart = at;
      recent.push(reading.percent);
      if (recent.length > settings.sustainSamples) recent.shift();
      if (recent.length < settings.sustainSamples) return;
      const sustainedLevel: 0 | 1 | 2 = recent.every((p) => p >= settings.critical) ? 2 : 1;
      if (sustainedLevel <= level) return;
      if (track === undefined) track = newTrack(at, Severity.WARNING);
      level = sustainedLevel;
      send(at, AlertState.OPEN, reading);
    },
  };
}

/** Runs `tick` every `intervalMs`; returns a stop function. */
export type Schedule = (intervalMs: number, tick: () => void) => () => void;

/** The production schedule: node-cron with a seconds field. */
export const cronSchedule: Schedule = (intervalMs, tick) => {
  const expression = cronExpressionFor(intervalMs);
  if (expression === undefined) throw new Error(`no cron schedule for an interval of ${intervalMs} ms`);
  const task = cron.schedule(expression, tick, { noOverlap: true, name: "cpu-sustained" });
  return () => void task.destroy();
};

export interface CpuDetectorDeps {
  /** Default: /proc sampler. */
  sampler?: CpuSampler;
  /** Default: cronSchedule. */
  schedule?: Schedule;
  /** Processes listed in alerts. Default: 5. */
  topProcesses?: number;
}

export function createCpuSustainedDetector(settings: CpuSettings, deps: CpuDetectorDeps = {}): Detector {
  let stop: (() => void) | undefined;
  let source: SourceReport = { kind: "sampler", state: "waiting", detail: "/proc/stat not sampled yet", since: 0 };
  return {
    name: "cpu-sustained",
    kinds: [AlertKind.CPU_SUSTAINED],
    source: () => source,
    async start(context) {
      const sampler = deps.sampler ?? createProcCpuSampler({ now: () => context.now(), topProcesses: deps.topProcesses ?? 5 });
      const evaluator = createCpuEvaluator(settings, (alert) => context.emit(alert));
      try {
        await sampler.sample(); // primes the deltas
      } catch (err) {
        source = { kind: "sampler", state: "unreadable", detail: `/proc/stat: ${errorCode(err)}`, since: context.now() };
        throw err;
      }
      if (source.state !== "following") source = { kind: "sampler", state: "following", detail: "/proc/stat", since: context.now() };
      let busy = false;
      stop = (deps.schedule ?? cronSchedule)(settings.interval, () => {
        if (busy) return;
        busy = true;
        sampler
          .sample()
          .then((reading) => evaluator.observe(reading, context.now()))
          .catch((err: unknown) => {
            context.logger.error({ detector: "cpu-sustained", err }, "CPU sample failed");
            source = { kind: "sampler", state: "unreadable", detail: `/proc/stat: ${errorCode(err)}`, since: context.now() };
            context.onFailure(err);
          })
          .finally(() => {
            busy = false;
          });
      });
    },
    async stop() {
      stop?.();
      stop = undefined;
    },
  };
}
