import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { SecarcError } from "../../common/errors.js";

/**
 * Small JSON state files of the responders (active blocks, mutes) in the
 * agent's state directory, written atomically: a temporary file in the
 * same directory, fsync, rename over the old one, fsync of the directory.
 * A crash leaves either the old or the new file, never a torn one.
 */

/** Reads a JSON state file; `fallback` when it does not exist. */
export function readJsonState<T>(path: string, fallback: T): T {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw new SecarcError("internal", `cannot read ${path}`, { cause: err });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new SecarcError("internal", `${path} is not valid JSON`, { cause: err });
  }
}

/** Replaces a JSON state file atomically (creating its directory). */
export function writeJsonState(path: string, value: unknown): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(value)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
