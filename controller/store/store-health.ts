import { statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { isStorageError, storageCode, storageTrouble } from "./storage-errors.js";

/** Warn before the disk is full: below this much free space, or below LOW_SPACE_RATIO of the file system. */
export const LOW_SPACE_BYTES = 50 * 1024 * 1024;
export const LOW_SPACE_RATIO = 0.05;

/** The store's state, as the log, /metrics, /status and `secarc status` show it. */
export interface StoreHealthView {
  /** ok: writes succeed; low_space: they do, but the disk is nearly full; failing: writes fail. */
  state: "ok" | "low_space" | "failing";
  /** The directory of the store file (PostgreSQL: where the server is). */
  dir: string;
  freeBytes: number | undefined;
  totalBytes: number | undefined;
  /** One line: "store full: 3 MiB free on /var/lib/secarc/controller (SQLITE_FULL)"; empty when ok. */
  detail: string;
  /** When the current state began. */
  since: number;
}

export interface StoreHealth {
  /** A write failed: a storage error turns the state to failing (others are not the disk's fault and are ignored). Returns whether it was one. */
  failed(err: unknown, where: string): boolean;
  /** A write committed: failing ends. */
  succeeded(): void;
  view(): StoreHealthView;
  /** Called with the new view whenever the state changes. */
  onChange(listener: (view: StoreHealthView) => void): () => void;
  /** Checks free space now (also done every `checkEveryMs`). */
  checkSpace(): void;
  stop(): void;
}

export interface StoreHealthDeps {
  /** The SQLite store file; its directory's free space is watched. Undefined: a server (PostgreSQL) whose disk is not ours to watch. */
  path: string | undefined;
  /** Where the store is, for the view and the log without a path (a PostgreSQL URL without its password). Default: the path's directory. */
  where?: string;
  logger: Logger;
  now: () => number;
  /** Free-space check interval. Default: 30 s. */
  checkEveryMs?: number;
  /** Free space of a directory (tests). Default: statfs. */
  statfs?: (dir: string) => { freeBytes: number; totalBytes: number };
}

const mib = (bytes: number | undefined): string => (bytes === undefined ? "?" : String(Math.floor(bytes / (1024 * 1024))));

function defaultStatfs(dir: string): { freeBytes: number; totalBytes: number } {
  const stats = statfsSync(dir);
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

/**
 * The controller store's health: "storage errors are a state, not a crash".
 * Writers report failures and commits here; the state is logged once per
 * change (error when failing, warning when space runs low, info when it is
 * back), exported as metrics and shown in /status.
 */
export function createStoreHealth(deps: StoreHealthDeps): StoreHealth {
  const dir = deps.path !== undefined ? dirname(resolve(deps.path)) : (deps.where ?? "");
  const statfs = deps.path !== undefined ? (deps.statfs ?? defaultStatfs) : undefined;
  const listeners = new Set<(view: StoreHealthView) => void>();
  let space: { freeBytes: number; totalBytes: number } | undefined;
  let current: StoreHealthView = { state: "ok", dir, freeBytes: undefined, totalBytes: undefined, detail: "", since: deps.now() };

  const measure = (): void => {
    if (!statfs) return;
    try {
      space = statfs(dir);
    } catch {
      space = undefined;
    }
  };
  const isLow = (): boolean => space !== undefined && (space.freeBytes < LOW_SPACE_BYTES || space.freeBytes < space.totalBytes * LOW_SPACE_RATIO);
  const set = (state: StoreHealthView["state"], detail: string): void => {
    const changed = state !== current.state;
    current = { state, dir, freeBytes: space?.freeBytes, totalBytes: space?.totalBytes, detail, since: changed ? deps.now() : current.since };
    if (!changed) return;
    if (state === "failing") deps.logger.error({ dir, freeMiB: mib(space?.freeBytes), store: "failing" }, `${detail}; agents are not acked (they keep their alerts) until writes succeed again`);
    else if (state === "low_space") deps.logger.warn({ dir, freeMiB: mib(space?.freeBytes), store: "low_space" }, detail);
    else deps.logger.info({ dir, freeMiB: mib(space?.freeBytes), store: "ok" }, "store writable again");
    for (const listener of listeners) {
      try {
        listener(current);
      } catch (err) {
        deps.logger.error({ err: describeError(err) }, "a store health listener failed");
      }
    }
  };
  const lowDetail = (): string => `store low on space: ${mib(space?.freeBytes)} MiB free on ${dir} (warning below ${mib(LOW_SPACE_BYTES)} MiB or ${LOW_SPACE_RATIO * 100} %)`;

  const checkSpace = (): void => {
    measure();
    if (current.state === "failing") {
      current = { ...current, freeBytes: space?.freeBytes, totalBytes: space?.totalBytes };
      return;
    }
    set(isLow() ? "low_space" : "ok", isLow() ? lowDetail() : "");
  };
  const timer = setInterval(checkSpace, deps.checkEveryMs ?? 30_000);
  timer.unref();
  checkSpace();

  return {
    failed(err, where) {
      if (!isStorageError(err)) return false;
      measure();
      const free = statfs ? `: ${mib(space?.freeBytes)} MiB free on ${dir}` : ` at ${dir}`;
      set("failing", `${storageTrouble(err)}${free} (${storageCode(err)} in ${where}: ${describeError(err)})`);
      return true;
    },
    succeeded() {
      if (current.state !== "failing") return;
      measure();
      set(isLow() ? "low_space" : "ok", isLow() ? lowDetail() : "");
    },
    view: () => current,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    checkSpace,
    stop: () => clearInterval(timer),
  };
}
