import { open, stat, type FileHandle } from "node:fs/promises";
import { SecarcError } from "../../common/errors.js";
import { serialized, watchFileInDirectory } from "../../common/file-watch.js";

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
  const cursor: Cursor = { options, buffer: Buffer.allocUnsafe(options.bufferBytes ?? 64 * 1024), handle: undefined, inode: -1, offset: 0, resets: 0, running: false, told: "" };
  let stopWatch = (): void => {};
  let timer: NodeJS.Timeout | undefined;
  const poll = serialized(async () => {
    try {
      await check(cursor);
    } catch (err) {
      options.onError(new SecarcError("unavailable", `cannot read ${options.path}: ${(err as Error).message}`, { retryable: true, cause: err }));
    }
  }, () => !cursor.running);
  let busy: Promise<void> | undefined;
  const pollTracked = (): Promise<void> => (busy = poll());

  return {
    get resets() {
      return cursor.resets;
    },
    poll: pollTracked,
    async start() {
      cursor.running = true;
      await openCurrent(cursor, !options.fromStart);
      // Polling alone still works when the watch cannot start.
      stopWatch = watchFileInDirectory(options.path, () => void pollTracked());
      timer = setInterval(() => void pollTracked(), pollMs);
      timer.unref();
      if (options.fromStart) await pollTracked();
    },
    async stop() {
      cursor.running = false;
      if (timer) clearInterval(timer);
      stopWatch();
      await busy;
      await cursor.handle?.close();
      cursor.handle = undefined;
    },
  };
}

/** Where the follower is in which file. */
interface Cursor {
  options: LogFollowerOptions;
  buffer: Buffer;
  handle: FileHandle | undefined;
  inode: number;
  offset: number;
  resets: number;
  running: boolean;
  /** The last state told, so that each change is told once. */
  told: string;
}

function tell(cursor: Cursor, state: "following" | "waiting" | "unreadable", detail: string): void {
  if (`${state} ${detail}` === cursor.told) return;
  cursor.told = `${state} ${detail}`;
  cursor.options.onState?.(state, detail);
}

async function openCurrent(cursor: Cursor, fromEnd: boolean): Promise<boolean> {
  const { path } = cursor.options;
  let next: FileHandle;
  try {
    next = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") tell(cursor, "waiting", `${path} does not exist`);
    else tell(cursor, "unreadable", `${path}: ${code ?? (err as Error).message}`);
    return false;
  }
  const info = await next.stat();
  tell(cursor, "following", path);
  cursor.handle = next;
  cursor.inode = info.ino;
  cursor.offset = fromEnd ? info.size : 0;
  return true;
}

async function drain(cursor: Cursor): Promise<void> {
  const { buffer } = cursor;
  for (;;) {
    if (!cursor.handle) return;
    const { bytesRead } = await cursor.handle.read(buffer, 0, buffer.length, cursor.offset);
    if (bytesRead === 0) return;
    cursor.offset += bytesRead;
    cursor.options.onData(buffer.subarray(0, bytesRead));
    if (!cursor.running) return;
  }
}

/** Reads what is new, after a truncation from the start, and after a rotation the old file to its end, then the new one. */
async function check(cursor: Cursor): Promise<void> {
  const { options } = cursor;
  const handle = cursor.handle;
  if (!handle) {
    if (await openCurrent(cursor, false)) await drain(cursor);
    return;
  }
  const current = await handle.stat();
  if (current.size < cursor.offset) {
    cursor.resets += 1;
    options.onReset?.("truncated");
    cursor.offset = 0;
  }
  await drain(cursor);
  let onDisk: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    onDisk = await stat(options.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (onDisk && onDisk.ino !== cursor.inode) {
    // Rotated: the old file is fully read above; switch to the new one.
    await handle.close();
    cursor.handle = undefined;
    cursor.resets += 1;
    options.onReset?.("rotated");
    if (await openCurrent(cursor, false)) await drain(cursor);
  }
}
