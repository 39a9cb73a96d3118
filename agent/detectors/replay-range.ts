import { readSync } from "node:fs";
import type { DetectorsConfig } from "./config.js";
import { newLineStats } from "./line-processor.js";
import { createLineSplitter } from "./line-splitter.js";
import { MAX_PATH_CHARS, createNginx404Reader, type EventFields } from "./nginx-404-reader.js";
import { ownField } from "./nginx-log-parser.js";
import { compileWebFormat } from "./web-log-format.js";

/**
 * One piece of a parallel replay: the lines of bytes [start, end) of the
 * file, read by the 404 detector's reader. Every 404 is kept as an event
 * (client, time, path, virtual host) in a compact form that crosses threads
 * cheaply (typed arrays, one string for all paths), in file order.
 */
export interface ScannedPiece {
  index: number;
  lines: number;
  malformed: number;
  events: number;
  oversized: number;
  bytes: number;
  /** The distinct clients of the piece; `ipIndex[j]` names event j's. */
  ips: string[];
  ipIndex: Int32Array<ArrayBuffer>;
  times: Float64Array<ArrayBuffer>;
  /** All events' paths concatenated; event j's ends at `pathEnds[j]` ("" when paths are not kept). */
  paths: string;
  pathEnds: Int32Array<ArrayBuffer>;
  vhosts: string[];
  vhostIndex: Int32Array<ArrayBuffer>;
}

/** What a thread needs to read pieces: plain data, so it can be posted to a worker. */
export interface PieceJob {
  path: string;
  config: DetectorsConfig;
  /** Piece i is bytes [bounds[i], bounds[i + 1]). */
  bounds: number[];
}

const READ_BYTES = 64 * 1024;

/** Interns strings into a list; returns the index. */
function interner(list: string[]): (value: string) => number {
  const index = new Map<string, number>();
  return (value) => {
    let i = index.get(value);
    if (i === undefined) {
      i = list.length;
      // An own copy: a slice would keep the whole read chunk alive.
      const own = ownField(value);
      list.push(own);
      index.set(own, i);
    }
    return i;
  };
}

/** Reads piece `index` of `job` from the open file `fd`. */
export function scanPiece(fd: number, job: PieceJob, index: number): ScannedPiece {
  const start = job.bounds[index]!;
  const end = job.bounds[index + 1]!;
  const settings = job.config.nginx404;
  const keepPaths = settings.recentPaths > 0;
  const stats = newLineStats();
  const ips: string[] = [];
  const vhosts: string[] = [];
  const ipOf = interner(ips);
  const vhostOf = interner(vhosts);
  const ipIndex: number[] = [];
  const vhostIndex: number[] = [];
  const times: number[] = [];
  const pathEnds: number[] = [];
  let paths = "";
  const reader = createNginx404Reader({ ...settings, compiled: compileWebFormat(settings.format, settings.jsonFields) }, stats, (ip: string, time: number, fields: EventFields) => {
    ipIndex.push(ipOf(ip));
    times.push(time);
    if (keepPaths) {
      paths += fields.path(MAX_PATH_CHARS);
      vhostIndex.push(vhostOf(fields.vhost()));
    }
    pathEnds.push(paths.length);
  });
  const splitter = createLineSplitter(reader, job.config.maxLineBytes);
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  let position = start;
  while (position < end) {
    const n = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
    if (n === 0) break;
    position += n;
    splitter.push(n === buffer.length ? buffer : buffer.subarray(0, n));
  }
  splitter.end();
  return {
    index,
    ...stats,
    oversized: splitter.oversized,
    bytes: position - start,
    ips,
    ipIndex: Int32Array.from(ipIndex),
    times: Float64Array.from(times),
    paths,
    pathEnds: Int32Array.from(pathEnds),
    vhosts,
    vhostIndex: Int32Array.from(vhostIndex),
  };
}

/**
 * Cuts [0, size) into about `pieces` byte ranges that start at the start of
 * a line (after a newline): returns the bounds, first 0, last `size`.
 */
export function lineBounds(fd: number, size: number, pieces: number): number[] {
  const bounds = [0];
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  for (let k = 1; k < pieces; k++) {
    let position = Math.max(Math.floor((k * size) / pieces), bounds[bounds.length - 1]!);
    // The first newline at or after position - 1: the next piece starts after it.
    let bound = size;
    position = Math.max(position - 1, 0);
    while (position < size) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - position), position);
      if (n === 0) break;
      const newline = buffer.subarray(0, n).indexOf(10);
      if (newline >= 0) {
        bound = position + newline + 1;
        break;
      }
      position += n;
    }
    if (bound >= size) break;
    if (bound > bounds[bounds.length - 1]!) bounds.push(bound);
  }
  bounds.push(size);
  return bounds;
}
