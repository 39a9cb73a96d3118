import { closeSync, fstatSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { SecarcError } from "../../common/errors.js";
import type { EventFields } from "./nginx-404-reader.js";
import { createNginx404Window } from "./nginx-404.js";
import { lineBounds, scanPiece, type PieceJob, type ScannedPiece } from "./replay-range.js";
import type { PARALLEL_DETECTORS, ReplayOptions, ReplayStats } from "./replay.js";
import type { ReplayWorkerData } from "./replay-worker.js";
import { compileWebFormat } from "./web-log-format.js";

/**
 * `secarc replay` on every core: the file is cut into byte ranges on line
 * boundaries; this thread and `threads - 1` worker threads take ranges from
 * a shared counter and read them (replay-range.ts: lines counted, 404s kept
 * as events); then the events, in file order, go through one sliding window
 * (nginx-404.ts), the same one the single-thread replay uses. The output -
 * alerts in order, line, malformed, event and oversized counts - equals the
 * single-thread replay's (replay-parallel.test.ts compares them); only alert
 * ids, random by design, differ.
 */

// Which detectors and files it takes are in replay.ts, so that a replay on one thread does not load this module.
export { PARALLEL_DETECTORS, PARALLEL_MIN_BYTES, isParallelDetector } from "./replay.js";

export interface ParallelReplayOptions extends Omit<ReplayOptions, "detector" | "chunkBytes"> {
  detector: (typeof PARALLEL_DETECTORS)[number];
  /** Threads reading, this one included. Default: the cores Node may use (os.availableParallelism). */
  threads?: number;
  /** Size of a range. Default: the file cut into 4 ranges per thread, at least 1 MiB each. */
  pieceBytes?: number;
}

/** The worker's script: the compiled file beside this one, or the TypeScript source through tsx in a checkout. */
function startWorker(data: ReplayWorkerData): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./replay-worker.js", import.meta.url), { workerData: data });
  // tsx's ESM API (its package exports map "tsx/esm/api" to dist/esm/api/index.mjs, beside "tsx"'s dist/loader.mjs).
  const tsx = new URL("./esm/api/index.mjs", pathToFileURL(createRequire(import.meta.url).resolve("tsx"))).href;
  const source = new URL("./replay-worker.ts", import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(code, { eval: true, workerData: data });
}

/** Resolves with the pieces a worker posted once it has exited cleanly. */
function collect(worker: Worker, into: ScannedPiece[]): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.on("message", (piece: ScannedPiece) => into.push(piece));
    worker.once("error", (err) => reject(new SecarcError("internal", `replay worker failed: ${err.message}`, { cause: err })));
    worker.once("exit", (code) => (code === 0 ? resolve() : reject(new SecarcError("internal", `replay worker exited with code ${code}`))));
  });
}

/** The fields of event `j` of a piece, as the window reads them. */
function pieceFields(piece: ScannedPiece): EventFields & { at: number } {
  return {
    at: 0,
    path() {
      return piece.paths.slice(this.at === 0 ? 0 : piece.pathEnds[this.at - 1], piece.pathEnds[this.at]);
    },
    vhost() {
      return piece.vhosts[piece.vhostIndex[this.at]!] ?? "";
    },
  };
}

export async function replayFileParallel(options: ParallelReplayOptions): Promise<ReplayStats> {
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let fd: number;
  try {
    fd = openSync(options.path, "r");
  } catch (err) {
    throw new SecarcError("input_invalid", `cannot open ${options.path}: ${(err as Error).message}`, { cause: err });
  }
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  const pieces: ScannedPiece[] = [];
  let used = 1;
  try {
    const size = fstatSync(fd).size;
    const count = options.pieceBytes !== undefined ? Math.ceil(size / Math.max(1, options.pieceBytes)) : Math.min(threads * 4, Math.ceil(size / (1024 * 1024)));
    const job: PieceJob = { path: options.path, config: options.config, bounds: lineBounds(fd, size, Math.max(1, count)) };
    const next = new Int32Array(new SharedArrayBuffer(4));
    const pieceCount = job.bounds.length - 1;
    const workers = Array.from({ length: Math.min(threads - 1, pieceCount - 1) }, () => startWorker({ job, next }));
    used = workers.length + 1;
    const done = Promise.all(workers.map((w) => collect(w, pieces)));
    try {
      for (let index = Atomics.add(next, 0, 1); index < pieceCount; index = Atomics.add(next, 0, 1)) pieces.push(scanPiece(fd, job, index));
    } catch (err) {
      Atomics.store(next, 0, pieceCount);
      await Promise.allSettled(workers.map((w) => w.terminate()));
      throw err;
    }
    await done;
  } finally {
    closeSync(fd);
  }
  pieces.sort((a, b) => a.index - b.index);
  return { ...mergePieces(options, pieces, started, cpuStart), threads: used };
}

/** Runs the events of the pieces, in file order, through one window; the replay's stats. */
function mergePieces(options: ParallelReplayOptions, pieces: ScannedPiece[], started: bigint, cpuStart: NodeJS.CpuUsage): Omit<ReplayStats, "threads"> {
  let alerts = 0;
  const settings = options.config.nginx404;
  const clock = { now: options.startTime ?? 0 };
  const window = createNginx404Window(
    { ...settings, compiled: compileWebFormat(settings.format, settings.jsonFields), logFile: options.path },
    {
      emit(alert) {
        alerts += 1;
        options.onAlert(alert);
      },
      now: () => clock.now,
    },
  );
  const total = { lines: 0, malformed: 0, events: 0, oversized: 0, bytes: 0 };
  for (const piece of pieces) {
    const fields = pieceFields(piece);
    const { ips, ipIndex, times } = piece;
    for (let j = 0; j < times.length; j++) {
      fields.at = j;
      window.record(ips[ipIndex[j]!]!, times[j]!, fields);
    }
    for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += piece[key];
  }
  window.flush();
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    ...total,
    alerts,
    elapsedMs,
    linesPerSecond: elapsedMs > 0 ? Math.round((total.lines * 1000) / elapsedMs) : 0,
    cpuMs,
    linesPerCpuSecond: cpuMs > 0 ? Math.round((total.lines * 1000) / cpuMs) : 0,
  };
}
