import { BlockList } from "node:net";
import type { IpTarget } from "./ip-policy.js";
import { findSshSessions, groupSessions, type ProcScope } from "./ssh-session-finder.js";
import { terminateProcesses } from "./terminate.js";

/** The open SSH sessions from a blocked address or network, grouped per session. */
export function sessionsFrom(target: IpTarget, procScope?: ProcScope) {
  const list = new BlockList();
  const kind = target.family === 4 ? "ipv4" : "ipv6";
  if (target.prefix === undefined) list.addAddress(target.ip, kind);
  else list.addSubnet(target.ip, target.prefix, kind);
  return groupSessions(findSshSessions((c) => list.check(c.remoteIp, c.remoteIp.includes(":") ? "ipv6" : "ipv4"), procScope));
}

/** Ends the SSH sessions from `target` (SIGTERM, SIGKILL after `graceMs`); "" when none, else "; closed 2 SSH sessions…". */
export async function closeSessionsFrom(target: IpTarget, graceMs: number, procScope?: ProcScope): Promise<string> {
  const sessions = sessionsFrom(target, procScope);
  if (sessions.length === 0) return "";
  const result = await terminateProcesses(
    sessions.flat().map((p) => ({ pid: p.info.pid, startTicks: p.info.startTicks })),
    { graceMs },
  );
  const failures = result.failed.length > 0 ? `; could not signal ${result.failed.map((f) => `${f.pid} (${f.reason})`).join(", ")}` : "";
  return `; closed ${sessions.length} SSH session${sessions.length === 1 ? "" : "s"}${failures}`;
}
