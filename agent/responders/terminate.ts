import { readProc } from "../proc/proc-sockets.js";

/**
 * Ends processes: SIGTERM, then SIGKILL to those still there after the
 * grace period. A process counts as the same only while its start time
 * (field 22 of /proc/PID/stat) is unchanged, so a PID reused meanwhile is
 * never signalled. Zombies count as ended.
 */

export interface TerminateTarget {
  pid: number;
  startTicks: bigint;
}

export interface TerminateResult {
  /** Pids that ended after SIGTERM. */
  terminated: number[];
  /** Pids that needed SIGKILL. */
  killed: number[];
  /** Pids that could not be signalled (with the reason). */
  failed: Array<{ pid: number; reason: string }>;
}

export interface TerminateOptions {
  /** Wait after SIGTERM before SIGKILL. */
  graceMs: number;
  /** Poll interval while waiting. Default: 25 ms. */
  pollMs?: number;
  procRoot?: string;
}

function stillThere(target: TerminateTarget, procRoot: string | undefined): boolean {
  const info = readProc(target.pid, procRoot);
  return info !== undefined && info.startTicks === target.startTicks && info.state !== "Z" && info.state !== "X";
}

function signal(pid: number, sig: NodeJS.Signals): string | undefined {
  try {
    process.kill(pid, sig);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ESRCH" ? undefined : `${sig} failed: ${code ?? String(err)}`;
  }
}

export async function terminateProcesses(targets: readonly TerminateTarget[], options: TerminateOptions): Promise<TerminateResult> {
  const result: TerminateResult = { terminated: [], killed: [], failed: [] };
  const pending: TerminateTarget[] = [];
  for (const target of targets) {
    if (!stillThere(target, options.procRoot)) continue;
    const error = signal(target.pid, "SIGTERM");
    if (error === undefined) pending.push(target);
    else result.failed.push({ pid: target.pid, reason: error });
  }
  const pollMs = options.pollMs ?? 25;
  const deadline = Date.now() + options.graceMs;
  let waiting = pending;
  while (waiting.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, pollMs));
    const left: TerminateTarget[] = [];
    for (const target of waiting) {
      if (stillThere(target, options.procRoot)) left.push(target);
      else result.terminated.push(target.pid);
    }
    waiting = left;
  }
  for (const target of waiting) {
    if (!stillThere(target, options.procRoot)) {
      result.terminated.push(target.pid);
      continue;
    }
    const error = signal(target.pid, "SIGKILL");
    if (error === undefined) result.killed.push(target.pid);
    else result.failed.push({ pid: target.pid, reason: error });
  }
  return result;
}
