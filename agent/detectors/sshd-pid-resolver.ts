import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { listPids, readProc, sameIp, tcpConnectionsOf } from "../proc/proc-sockets.js";

/**
 * Finds the sshd process that serves a client connection, for log lines
 * that carry no PID (sshd started with `-E FILE` or `-e` writes bare
 * messages). Looks at sshd processes only (their comm is read first, so
 * the other processes cost one small read each) and at the connections
 * each holds, seen from its own network namespace, whose remote end is
 * ip:port. Of the matching processes, the session's own sshd is the one
 * whose parent does not match (the per-connection sshd, not its
 * privilege-separated children).
 */

const SSHD_NAMES = new Set(["sshd", "sshd-session"]);

function comm(pid: number, procRoot: string): string | undefined {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The PID of the sshd serving the connection from ip:port, or undefined. */
export function resolveSshdPid(ip: string, port: number, procRoot = "/proc"): number | undefined {
  if (isIP(ip) === 0) return undefined;
  const matches = new Map<number, number>(); // pid → ppid
  for (const pid of listPids(procRoot)) {
    const name = comm(pid, procRoot);
    if (!name || !SSHD_NAMES.has(name)) continue;
    const holds = tcpConnectionsOf(pid, procRoot).some((c) => c.state === "ESTABLISHED" && c.remotePort === port && sameIp(c.remoteIp, ip));
    if (!holds) continue;
    matches.set(pid, readProc(pid, procRoot)?.ppid ?? 0);
  }
  for (const [pid, ppid] of matches) if (!matches.has(ppid)) return pid;
  return undefined;
}

/** The start time of a live process (a zombie counts as gone), for watching a session's sshd. */
export function processStartTicks(pid: number, procRoot = "/proc"): bigint | undefined {
  const info = readProc(pid, procRoot);
  return info === undefined || info.state === "Z" ? undefined : info.startTicks;
}
