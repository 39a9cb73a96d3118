import { statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { describeError, isSecarcError } from "../../common/errors.js";
import { serialized, watchFileInDirectory } from "../../common/file-watch.js";
import type { Logger } from "../../common/log.js";
import { crlHash, parseRevocationList, type RevocationList } from "./revocation-list.js";

export interface CrlWatchOptions {
  /** The CRL file (`tls.crl`). */
  path: string;
  /** The CA PEM every CRL must be signed by (`tls.ca`). */
  ca: Buffer;
  /** The list in force now (loaded at start). */
  current: RevocationList;
  /** Called with each new, valid list, in order. */
  onChange(list: RevocationList): void;
  logger: Logger;
  now: () => number;
  /** How often the file's mtime, size and inode are compared, in ms (for when fs.watch misses a change). Default: 2000. */
  pollMs?: number;
  /** How long after a change event the file is read (a copy in progress settles). Default: 100. */
  settleMs?: number;
  /** How long before a CRL that failed is read again, before the failure is logged (a write may have been in progress). Default: 500. */
  retryMs?: number;
  /** Use fs.watch besides the poll. Default: true (tests of the poll turn it off). */
  fsWatch?: boolean;
}

export interface CrlWatch {
  /** Reads the file now; resolves when done (tests, and the poll). */
  check(): Promise<void>;
  stop(): void;
}

/**
 * Follows the controller's CRL file: fs.watch on its directory (so that a
 * file replaced by rename is seen), plus a slow poll of its mtime, size and
 * inode in case the watch misses an event (network file systems, some
 * editors). A changed file whose bytes differ is parsed and checked; a valid
 * one is handed to `onChange`. An unreadable or broken file is logged once,
 * as an error, and the previous list stays in force — the controller never
 * stops over it.
 */
export function watchCrlFile(options: CrlWatchOptions): CrlWatch {
  const { path, logger } = options;
  const pollMs = options.pollMs ?? 2_000;
  const settleMs = options.settleMs ?? 100;
  const retryMs = options.retryMs ?? 500;
  let currentHash = options.current.hash;
  const signature = fileSignature(path);
  let failed: { hash: string; logged: boolean } | undefined;
  let stopped = false;
  let settleTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;

  const retryIn = (ms: number): void => {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => void check(), ms);
    retryTimer.unref();
  };
  /** A file that cannot be used: logged once per content; `retryable` (a CRL not valid yet) is read again every poll period. */
  const fail = (hash: string, reason: string, retryable = false): void => {
    if (failed?.hash !== hash) {
      // Seen for the first time: maybe half written. Read it again shortly, and log if it is still broken then.
      failed = { hash, logged: false };
      retryIn(retryMs);
      return;
    }
    if (!failed.logged) {
      failed.logged = true;
      logger.error({ path, reason }, `the CRL file is not usable; the previous CRL stays in force: ${reason}`);
    }
    if (retryable) retryIn(pollMs);
  };

  const readOnce = async (): Promise<void> => {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      fail(`unreadable:${describeError(err)}`, `cannot read ${path}: ${describeError(err)}`);
      return;
    }
    const hash = crlHash(bytes);
    if (hash === currentHash) {
      failed = undefined;
      return;
    }
    let list: RevocationList;
    try {
      list = await parseRevocationList(bytes, options.ca, options.now());
    } catch (err) {
      fail(hash, describeError(err), isSecarcError(err) && err.retryable);
      return;
    }
    if (stopped) return;
    currentHash = hash;
    failed = undefined;
    logger.info({ path, revoked: list.serials.length, crls: list.pems.length }, `CRL reloaded: ${list.serials.length} certificate(s) revoked`);
    try {
      options.onChange(list);
    } catch (err) {
      logger.error({ path, err: describeError(err) }, "applying the new CRL failed");
    }
  };

  const check = serialized(readOnce, () => stopped);

  const soon = (): void => {
    if (stopped) return;
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => void check(), settleMs);
    settleTimer.unref();
  };
  const watchFailed = (err: unknown, started: boolean): void =>
    logger.warn({ path, err: describeError(err) }, started ? "watching the CRL's directory failed; polling it only" : "cannot watch the CRL's directory; polling it only");
  const stopWatch = options.fsWatch ?? true ? watchFileInDirectory(path, soon, watchFailed) : () => {};
  const stopPoll = pollSignature(path, pollMs, signature, () => void check());

  return {
    check,
    stop() {
      stopped = true;
      stopPoll();
      clearTimeout(settleTimer);
      clearTimeout(retryTimer);
      stopWatch();
    },
  };
}

function fileSignature(path: string): string {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch (err) {
    return `missing:${describeError(err)}`;
  }
}

/** Compares the file's mtime, size and inode every `pollMs`; calls `changed` when they differ from the last seen. Returns the stop. */
function pollSignature(path: string, pollMs: number, initial: string, changed: () => void): () => void {
  let signature = initial;
  const seen = (next: string): void => {
    if (next === signature) return;
    signature = next;
    changed();
  };
  const poll = setInterval(() => {
    void stat(path).then(
      (s) => seen(`${s.mtimeMs}:${s.size}:${s.ino}`),
      (err: unknown) => seen(`missing:${describeError(err)}`),
    );
  }, pollMs);
  poll.unref();
  return () => clearInterval(poll);
}
