import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { run } from "./netns.js";

/**
 * A real systemd-journald (Debian 12: systemd 252) for a test, on a machine
 * whose PID 1 is not systemd. Run as a plain process (not socket-activated)
 * journald binds its own sockets under /run/systemd/journal (socket, stdout,
 * dev-log) and, with Storage=auto and no /var/log/journal/MACHINE-ID, writes
 * volatile files under /run/log/journal/MACHINE-ID.
 *
 * It runs in a private mount namespace (`unshare --mount`) with tmpfs over
 * /run and /var/log/journal there: nothing of it appears under the host's
 * /run or /var. Its sockets and files are reached from the host through
 * /proc/PID/root: `journalctl --directory=DIR` reads its files, and
 * /dev/log (which glibc's syslog(3) connects to) is made a symlink to its
 * dev-log socket — only when /dev/log does not exist; stop() removes exactly
 * that symlink.
 */
export interface TestJournald {
  pid: number;
  /** The journal directory, for `journalctl --directory` (the agent's `journalDirectory`). */
  directory: string;
  /** Entries (journalctl -o json) of these units, or of all when none are given. */
  entries(units?: readonly string[]): Promise<Record<string, unknown>[]>;
  /** Kills journald and removes the /dev/log symlink it was given. Safe to call twice. */
  stop(): Promise<void>;
}

export const JOURNALD_BIN = "/lib/systemd/systemd-journald";
const DEV_LOG = "/dev/log";
// Fixed text, no input: the tmpfs mounts exist only in journald's namespace.
const SCRIPT = [
  "set -e",
  "mount -t tmpfs -o mode=0755 secarc-test-run /run",
  "if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=0755 secarc-test-journal /var/log/journal; fi",
  `exec ${JOURNALD_BIN}`,
].join("\n");

/** Starts journald and points /dev/log at it; waits (bounded) until its sockets and journal file exist. */
export async function startJournald(timeoutMs = 10_000): Promise<TestJournald> {
  if (existsSync(DEV_LOG) || isSymlink(DEV_LOG)) throw new Error(`${DEV_LOG} exists already: a syslog daemon runs here; this test needs its own journald`);
  // unshare and sh exec: journald keeps the spawned pid.
  const child: ChildProcess = spawn("unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", SCRIPT], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 4000) stderr += chunk.toString();
  });
  const pid = child.pid ?? -1;
  const root = `/proc/${pid}/root`;
  const socket = join(root, "run/systemd/journal/dev-log");
  const directory = join(root, "run/log/journal");
  const machineId = readFileSync("/etc/machine-id", "utf8").trim();
  let devLog = false;
  const stop = async (): Promise<void> => {
    if (devLog && isSymlink(DEV_LOG) && readlinkSync(DEV_LOG) === socket) unlinkSync(DEV_LOG);
    devLog = false;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(timer);
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(socket) && existsSync(join(directory, machineId, "system.journal")))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`systemd-journald did not start (${child.exitCode ?? child.signalCode ?? "timeout"}): ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  symlinkSync(socket, DEV_LOG);
  devLog = true;
  // A run that ends without stop() (an uncaught error, process.exit) still leaves nothing behind.
  const onExit = (): void => {
    if (devLog && isSymlink(DEV_LOG) && readlinkSync(DEV_LOG) === socket) unlinkSync(DEV_LOG);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", onExit);
  child.once("exit", () => process.removeListener("exit", onExit));
  return {
    pid,
    directory,
    async entries(units = []) {
      const args = ["--directory", directory, "--output=json", "--no-pager", ...units.flatMap((u) => ["--unit", u])];
      const r = await run("journalctl", args, { timeoutMs: 10_000 });
      if (r.code !== 0 && r.code !== 1) throw new Error(`journalctl failed (${r.code}): ${r.stderr}`);
      return r.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    stop,
  };
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * A cgroup named like a systemd unit (`secarc-test-PID.slice/NAME.service`
 * in the cgroup v2 hierarchy): journald derives _SYSTEMD_UNIT from the
 * sender's cgroup path, so a process put there logs as that unit does
 * under systemd. remove() deletes both directories (once their processes
 * are gone).
 */
export interface UnitCgroup {
  /**
   * Its cgroup.procs, through /proc/PID/root of this process: `ip netns
   * exec` mounts a fresh /sys without the cgroup hierarchies, and the path
   * still reaches this mount namespace's.
   */
  procs: string;
  remove(): Promise<void>;
}

export function createUnitCgroup(unit: string): UnitCgroup {
  const base = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].find((dir) => existsSync(join(dir, "cgroup.procs")) && existsSync(join(dir, "cgroup.controllers")));
  if (base === undefined) throw new Error("no cgroup v2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup");
  const slice = join(base, `secarc-test-${process.pid}.slice`);
  const dir = join(slice, `${unit}.service`);
  mkdirSync(dir, { recursive: true });
  return {
    procs: join(`/proc/${process.pid}/root`, dir, "cgroup.procs"),
    async remove() {
      for (const path of [dir, slice]) {
        for (let attempt = 0; existsSync(path); attempt += 1) {
          try {
            rmdirSync(path);
          } catch (err) {
            // EBUSY while the last process exits: bounded retries
            if (attempt >= 40) throw err;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    },
  };
}

