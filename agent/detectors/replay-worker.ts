import { closeSync, openSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { scanPiece, type PieceJob } from "./replay-range.js";

/**
 * A worker thread of the parallel replay (replay-parallel.ts): takes the
 * next piece number from the shared counter, reads that piece, posts it
 * (typed arrays transferred, not copied), until no piece is left.
 */

export interface ReplayWorkerData {
  job: PieceJob;
  /** Element 0: the next piece to take (shared by all threads). */
  next: Int32Array;
}

const { job, next } = workerData as ReplayWorkerData;
const fd = openSync(job.path, "r");
try {
  for (;;) {
    const index = Atomics.add(next, 0, 1);
    if (index >= job.bounds.length - 1) break;
    const piece = scanPiece(fd, job, index);
    parentPort!.postMessage(piece, [piece.ipIndex.buffer, piece.times.buffer, piece.pathEnds.buffer, piece.vhostIndex.buffer]);
  }
} finally {
  closeSync(fd);
}
