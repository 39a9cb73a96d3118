import { watch, type FSWatcher } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { SecarcError } from "../../common/errors.js";

/**
 * Follows a growing log file like `tail -F`, by byte offset:
 * - starts at the end of the file (old lines are history, not news); a file
 *   that appears later, or replaces the followed one, is read from its start;
 * - rotation by rename + new file: the old file is read to its end, then the
 *   new one from offset 0;
 * - truncation in place (logrotate copytruncate): the size drops below the
 *   offset, and reading restarts at 0;
 * - wakes on fs.watch events of the file's directory, and polls with stat
 *   every `pollMs` as a fallback (watch events can be lost or unsupported).
 *
 * Bytes go to `onData` in order; cutting them into lines is the caller's
 * business (a LineSplitter, told by `onReset` to drop a partial line).
 */
export interface LogFollowerOptions {
  /** The file to follow. */
  path: string;
  /** Receives the bytes appended to the file. The buffer is reused afterwards. */
  onData(chunk: Buffer): void;
  /** The followed file was replaced or truncated: a partial line is void. */
  onReset?(reason: "rotated" | "truncated"): void;
  /** A read failed in a way polling will not fix. */
  onError(err: SecarcError): void;
  /**
   * Whether the file is followed: "following" once open; "waiting" while it
   * does not exist; "unreadable" while it cannot be opened (EACCES, ...;
   * retried at every poll). Told on every change, with a detail for
   * operators ("/var/log/nginx/access.log does not exist").
   */
  onState?(state: "following" | "waiting" | "unreadable", detail: string): void;
  /** Stat polling period in ms. Default: 1000. */
  pollMs?: number;
  /** Read from the start instead of the end of an existing file. Default: false. */
  fromStart?: boolean;
  /** Read buffer size in bytes. Default: 64 KiB. */
  bufferBytes?: number;
}

export interface LogFollower {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Reads whatever is new now (also done on watch events and polls). */
  poll(): Promise<void>;
  /** Times the file was replaced or truncated. */
  readonly resets: number;
}

export function createLogFollower(options: LogFollowerOptions): LogFollower {
  const pollMs = options.pollMs ?? 1000;
  const buffer = Buffer.allocUnsafe(options.bufferBytes ?? 64 * 1024);
  let handle: FileHandle | undefined;
  let inode = -1;
  let offset = 0;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let busy: Promise<void> | undefined;
  let again = false;
  let resets = 0;
  let told = "";
  const tell = (state: "following" | "waiting" | "unreadable", detail: string): void => {
    if (`${state} ${detail}` === told) return;
    told = `${state} ${detail}`;
    options.onState?.(state, detail);
  };

  async function openCurrent(fromEnd: boolean): Promise<boolean> {
    let next: FileHandle;
    try {
      next = await open(options.path, "r");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") tell("waiting", `${options.path} does not exist`);
      else tell("unreadable", `${options.path}: ${code ?? (err as Error).message}`);
      return false;
    }
    const info = await next.stat();
    tell("following", options.path);
    handle = next;
    inode = info.ino;
    offset = fromEnd ? info.size : 0;
    return true;
  }

  async function drain(): Promise<void> {
    if (!handle) return;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) return;
      offset += bytesRead;
      options.onData(buffer.subarray(0, bytesRead));
      if (!running) return;
    }
  }

  async function check(): Promise<void> {
    if (!handle) {
      if (await openCurrent(false)) await drain();
      return;
    }
    const current = await handle.stat();
    if (current.size < offset) {
      resets += 1;
      options.onReset?.("truncated");
      offset = 0;
    }
    await drain();
    let onDisk: Awaited<ReturnType<typeof stat>> | undefined;
    try {
      onDisk = await stat(options.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (onDisk && onDisk.ino !== inode) {
      // Rotated: the old file is fully read above; switch to the new one.
      await handle.close();
      handle = undefined;
      resets += 1;
      options.onReset?.("rotated");
      if (await openCurrent(false)) await drain();
    }
  }

  function poll(): Promise<void> {
    if (!running) return Promise.resolve();
    if (busy) {
      again = true;
      return busy;
    }
    busy = (async () => {
      try {
        do {
          again = false;
          await check();
        } while (again && running);
      } catch (err) {
        options.onError(new SecarcError("unavailable", `cannot read ${options.path}: ${(err as Error).message}`, { retryable: true, cause: err }));
      } finally {
        busy = undefined;
      }
    })();
    return busy;
  }

  return {
    get resets() {
      return resets;
    },
    poll,
    async start() {
      running = true;
      await openCurrent(!options.fromStart);
      try {
        const name = basename(options.path);
        watcher = watch(dirname(options.path), { persistent: false }, (_event, file) => {
          if (file === null || file === name || String(file) === name) void poll();
        });
        watcher.on("error", () => {
          watcher?.close();
          watcher = undefined;
        });
      } catch {
        watcher = undefined; // polling alone still works
      }
      timer = setInterval(() => void poll(), pollMs);
      timer.unref();
      if (options.fromStart) await poll();
    },
    async stop() {
      running = false;
      if (timer) clearInterval(timer);
      watcher?.close();
      watcher = undefined;
      await busy;
      await handle?.close();
      handle = undefined;
    },
  };
}
