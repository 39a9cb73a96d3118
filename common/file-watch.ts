import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";

/**
 * Small pieces that the file followers of both sides share (the agent's log
 * follower, the controller's CRL watch).
 */

/**
 * fs.watch on a file's directory, so that a file replaced by rename is seen
 * too; calls `changed` for events about that file (or events without a name).
 * When the watch cannot start or fails later, `failed` is told and the
 * caller's poll alone goes on. Returns the stop.
 */
export function watchFileInDirectory(path: string, changed: () => void, failed: (err: unknown, started: boolean) => void = () => {}): () => void {
  let watcher: FSWatcher | undefined;
  try {
    const name = basename(path);
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename === null || String(filename) === name) changed();
    });
    watcher.on("error", (err) => {
      watcher?.close();
      watcher = undefined;
      failed(err, true);
    });
  } catch (err) {
    watcher = undefined;
    failed(err, false);
  }
  return () => {
    watcher?.close();
    watcher = undefined;
  };
}

/**
 * Runs `task` one at a time: a call while it runs asks for one more run
 * after it and shares its promise; nothing runs once `stopped()` says so.
 */
export function serialized(task: () => Promise<void>, stopped: () => boolean): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (stopped()) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await task();
      } while (again && !stopped());
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
}
