import { closeSync, openSync, readSync } from "node:fs";
import { SecarcError } from "../../common/errors.js";
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { DetectorsConfig } from "./config.js";
import { createLineSplitter } from "./line-splitter.js";
import type { LineProcessor, LineProcessorDeps } from "./line-processor.js";
import { createNginx404Processor } from "./nginx-404.js";
import { createSshBruteForceProcessor } from "./ssh-brute-force.js";
import { createSshSessionProcessor } from "./ssh-session.js";
import { compileWebFormat } from "./web-log-format.js";

/**
 * `secarc replay`: runs a log detector's processor over a file as fast as
 * it can be read. Time comes from the lines; lines without a time of their
 * own (sshd -E logs) take the time of the last line that had one. At the end
 * every open alert is resolved, so each burst shows its whole life.
 */

type ReplayProcessor = (config: DetectorsConfig, deps: LineProcessorDeps, file: string) => LineProcessor;

/**
 * The log detectors `secarc replay` runs, by their catalog name (catalog.ts;
 * replay.test.ts checks that every log detector of the catalog is here), and
 * their line processors with time from the lines. Here rather than in the
 * catalog so that a replay loads these processors only, not every
 * detector, follower and sampler the agent runs.
 */
const PROCESSORS = {
  "ssh-session": (config, deps) => createSshSessionProcessor(config.sshSession, { ...deps, timeFromLines: true, rawNewlines: config.sshSession.rawNewlines }),
  "ssh-brute-force": (config, deps) => createSshBruteForceProcessor(config.sshBruteForce, { ...deps, timeFromLines: true, rawNewlines: config.sshBruteForce.rawNewlines }),
  "nginx-404": (config, deps, file) =>
    createNginx404Processor({ ...config.nginx404, compiled: compileWebFormat(config.nginx404.format, config.nginx404.jsonFields), logFile: file }, deps),
} as const satisfies Record<string, ReplayProcessor>;

export type ReplayDetector = keyof typeof PROCESSORS;
/** The detectors that `secarc replay` runs, in the catalog's kind order. */
export const REPLAY_DETECTORS = Object.keys(PROCESSORS) as ReplayDetector[];

export interface ReplayOptions {
  detector: ReplayDetector;
  /** The log file to read. */
  path: string;
  config: DetectorsConfig;
  /** Receives each alert revision, in order. */
  onAlert(alert: Alert): void;
  /** Time for lines that carry none before any line did. Default: the file's start, 0. */
  startTime?: number;
  /** Read size in bytes. Default: 64 KiB (chunks stay in V8's young generation). */
  chunkBytes?: number;
}

export interface ReplayStats {
  lines: number;
  malformed: number;
  events: number;
  /** Lines cut at `maxLineBytes`. */
  oversized: number;
  alerts: number;
  bytes: number;
  elapsedMs: number;
  linesPerSecond: number;
  /** CPU time the process used meanwhile (all threads, GC included), ms. */
  cpuMs: number;
  /** Lines per second of CPU time: the speed on one core, whatever else the machine runs. */
  linesPerCpuSecond: number;
  /** Threads that read the file (replay-parallel.ts reads on several). */
  threads: number;
}

/** The detectors the parallel replay (replay-parallel.ts) can run: their windows take events, not lines. */
export const PARALLEL_DETECTORS = ["nginx-404"] as const satisfies readonly ReplayDetector[];

/**
 * Files at least this large are read in parallel by default; smaller ones are
 * faster on one thread. A worker costs a start (about 40 ms) and its own
 * warm-up (its first ranges run before the JIT has optimized the reader),
 * and on the 2-vCPU machine the benchmarks run on two threads scan only
 * about 1.3 times as fast as one: the compiled replay took 0.23-0.29 s on
 * one thread against 0.33-0.35 s on two for 80 MB, 0.28-0.29 against
 * 0.38-0.39 for 161 MB, 0.41-0.45 against 0.50-0.53 for 240 MB, about the
 * same at 320 MB and 1.01-1.13 against 0.77-0.80 s for 645 MB (2026-12-02).
 * `--threads N` still picks N for any size.
 */
export const PARALLEL_MIN_BYTES = 384 * 1024 * 1024;

export function isParallelDetector(name: string): name is (typeof PARALLEL_DETECTORS)[number] {
  return (PARALLEL_DETECTORS as readonly string[]).includes(name);
}

export function isReplayDetector(name: string): name is ReplayDetector {
  return Object.hasOwn(PROCESSORS, name);
}

export function replayFile(options: ReplayOptions): ReplayStats {
  let alerts = 0;
  const clock = { now: options.startTime ?? 0 };
  const processor = PROCESSORS[options.detector](options.config, {
    emit(alert) {
      alerts += 1;
      options.onAlert(alert);
    },
    now: () => clock.now,
  }, options.path);
  const splitter = createLineSplitter((text, start, end) => processor.line(text, start, end), options.config.maxLineBytes);
  let fd: number;
  try {
    fd = openSync(options.path, "r");
  } catch (err) {
    throw new SecarcError("input_invalid", `cannot open ${options.path}: ${(err as Error).message}`, { cause: err });
  }
  const buffer = Buffer.allocUnsafe(options.chunkBytes ?? 64 * 1024);
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let bytes = 0;
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      bytes += n;
      splitter.push(n === buffer.length ? buffer : buffer.subarray(0, n));
    }
    splitter.end();
    processor.finish();
  } finally {
    closeSync(fd);
  }
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const { lines, malformed, events } = processor.stats;
  return {
    lines,
    malformed,
    events,
    oversized: splitter.oversized,
    alerts,
    bytes,
    elapsedMs,
    linesPerSecond: elapsedMs > 0 ? Math.round((lines * 1000) / elapsedMs) : 0,
    cpuMs,
    linesPerCpuSecond: cpuMs > 0 ? Math.round((lines * 1000) / cpuMs) : 0,
    threads: 1,
  };
}
