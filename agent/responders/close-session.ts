import { Answer, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { parseIp } from "./ip-policy.js";
import { done, dryRunDone, failed, refused } from "./result.js";
import { netnsInode, readProc, sameIp, tcpConnectionsOf, listPids } from "../proc/proc-sockets.js";
import type { ResponderResult, Responder } from "./responder.js";
import { isSshdSessionProcess, type ProcScope } from "./ssh-session-finder.js";
import { terminateProcesses, type TerminateTarget } from "./terminate.js";

/**
 * CLOSE_SESSION: ends exactly the SSH session named by the alert —
 * target.session {sshd_pid, source_ip, source_port} — after checking that
 * the pid still is an sshd session process (not the listener, not another
 * program after PID reuse) and that it, or its privilege-separated child,
 * holds an established TCP connection to exactly source_ip:source_port.
 * The session's processes get SIGTERM, then SIGKILL after the grace period.
 * Other sessions and the listener are untouched.
 */

export interface CloseSessionResponderDeps {
  logger: Logger;
  dryRun: boolean;
  graceMs: number;
  procScope?: ProcScope;
}

const MAX_PID = 4_194_304;

export function createCloseSessionResponder(deps: CloseSessionResponderDeps): Responder {
  const procRoot = deps.procScope?.procRoot;
  return {
    name: "ssh-session",
    answers: [Answer.CLOSE_SESSION],
    async execute(action: ResponseAction): Promise<ResponderResult> {
      const target = action.target?.target;
      if (target?.case !== "session") return refused("CLOSE_SESSION needs a session (target.session)");
      const { sshdPid, sourceIp, sourcePort } = target.value;
      if (!Number.isInteger(sshdPid) || sshdPid <= 1 || sshdPid > MAX_PID) return refused(`${sshdPid} is not a valid sshd pid`);
      const source = parseIp(sourceIp);
      if (source === undefined) return refused(`${JSON.stringify(sourceIp.slice(0, 64))} is not an IP address`);
      if (!Number.isInteger(sourcePort) || sourcePort < 1 || sourcePort > 65_535) return refused(`${sourcePort} is not a valid port`);
      const peer = `${source.family === 6 ? `[${source.ip}]` : source.ip}:${sourcePort}`;

      const info = readProc(sshdPid, procRoot);
      if (info === undefined) return refused(`process ${sshdPid} does not exist (session already closed?)`);
      if (deps.procScope?.netnsPath !== null) {
        const wanted = netnsInode(deps.procScope?.netnsPath ?? `${procRoot ?? "/proc"}/self/ns/net`);
        if (wanted === undefined || netnsInode(`${procRoot ?? "/proc"}/${sshdPid}/ns/net`) !== wanted) {
          return refused(`process ${sshdPid} is not in this host's network namespace`);
        }
      }
      const own = tcpConnectionsOf(sshdPid, procRoot);
      if (!isSshdSessionProcess(info, own)) {
        return refused(`process ${sshdPid} (${info.cmdline.slice(0, 60) || info.comm}) is not an sshd session process`);
      }
      // The session: the pid and its sshd children that hold the same connection.
      const matches = (pid: number) =>
        tcpConnectionsOf(pid, procRoot).find((c) => c.state === "ESTABLISHED" && sameIp(c.remoteIp, source.ip) && c.remotePort === sourcePort);
      const members: TerminateTarget[] = [];
      const connection = matches(sshdPid);
      if (connection !== undefined) members.push({ pid: sshdPid, startTicks: info.startTicks });
      for (const pid of listPids(procRoot)) {
        const child = readProc(pid, procRoot);
        if (child === undefined || child.ppid !== sshdPid || (child.comm !== "sshd" && child.comm !== "sshd-session")) continue;
        if (matches(pid) !== undefined) members.push({ pid, startTicks: child.startTicks });
      }
      if (members.length === 0) return refused(`process ${sshdPid} does not serve a connection from ${peer}`);
      if (!members.some((m) => m.pid === sshdPid)) members.unshift({ pid: sshdPid, startTicks: info.startTicks });
      const what = `${info.cmdline.trim()} (pid ${sshdPid}) from ${peer}`;
      if (deps.dryRun) return dryRunDone(`send SIGTERM to ${members.map((m) => m.pid).join(", ")}: ${what}`);
      try {
        const result = await terminateProcesses(members, { graceMs: deps.graceMs, ...(procRoot ? { procRoot } : {}) });
        if (result.failed.length > 0) {
          return failed(`closing ${what} failed: ${result.failed.map((f) => `${f.pid}: ${f.reason}`).join(", ")}`);
        }
        deps.logger.info({ pid: sshdPid, peer }, "SSH session closed");
        return done(`closed SSH session ${what}${result.killed.length > 0 ? " (SIGKILL needed)" : ""}`);
      } catch (err) {
        return failed(`closing ${what} failed: ${describeError(err)}`);
      }
    },
  };
}
