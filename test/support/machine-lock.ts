import { openSync, closeSync, readFileSync, rmSync, writeSync } from "node:fs";

/**
 * An exclusive lock for a test that changes the whole machine (dpkg, /etc,
 * system users): two runs at once (two checkouts, CI beside a developer)
 * would undo each other. Waits, bounded, for the holder; a lock whose
 * process is gone is taken over.
 */
export async function acquireMachineLock(path: string, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, "utf8").trim() === String(process.pid)) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number.parseInt(readFileSafe(path), 10);
    if (!Number.isInteger(holder) || !alive(holder)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${path} is held by process ${holder} (another run of this test); gave up waiting`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
