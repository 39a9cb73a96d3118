import { Answer, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { done, dryRunDone, failed, refused } from "./result.js";
import { readProc } from "../proc/proc-sockets.js";
import type { ResponderResult, Responder } from "./responder.js";
import { terminateProcesses } from "./terminate.js";

/**
 * KILL_PROCESS: ends the process named by a CPU alert — target.process
 * {pid, start_ticks} — only while /proc/PID/stat's start time (field 22)
 * still equals start_ticks, so a PID reused by another program is never
 * killed. PID 1 and the agent itself are refused. SIGTERM, then SIGKILL
 * after the grace period.
 */

export interface ProcessResponderDeps {
  logger: Logger;
  dryRun: boolean;
  graceMs: number;
  /** The agent's own pid, never killed. Default: process.pid. */
  selfPid?: number;
  procRoot?: string;
}

const MAX_PID = 4_194_304;

export function createProcessResponder(deps: ProcessResponderDeps): Responder {
  const selfPid = deps.selfPid ?? process.pid;
  return {
    name: "process",
    answers: [Answer.KILL_PROCESS],
    async execute(action: ResponseAction): Promise<ResponderResult> {
      const target = action.target?.target;
      if (target?.case !== "process") return refused("KILL_PROCESS needs a process (target.process)");
      const { pid, startTicks } = target.value;
      if (!Number.isInteger(pid) || pid <= 0 || pid > MAX_PID) return refused(`${pid} is not a valid pid`);
      if (pid === 1) return refused("pid 1 (init) is never killed");
      if (pid === selfPid) return refused(`pid ${pid} is the SecARC agent itself`);
      if (startTicks <= 0n) return refused(`no start time given for pid ${pid}; cannot tell it from a reused pid`);
      const info = readProc(pid, deps.procRoot);
      if (info === undefined || info.state === "Z") return refused(`process ${pid} does not exist (already ended?)`);
      if (info.startTicks !== startTicks) {
        return refused(`PID reused: process ${pid} (${info.comm}) started at tick ${info.startTicks}, the alert's at ${startTicks}`);
      }
      if (pid === 2 || info.ppid === 2) return refused(`process ${pid} (${info.comm}) is a kernel thread`);
      const what = `${info.comm} (pid ${pid})`;
      if (deps.dryRun) return dryRunDone(`send SIGTERM to ${what}, SIGKILL after ${deps.graceMs} ms`);
      try {
        const result = await terminateProcesses([{ pid, startTicks }], { graceMs: deps.graceMs, ...(deps.procRoot ? { procRoot: deps.procRoot } : {}) });
        if (result.failed.length > 0) return failed(`killing ${what} failed: ${result.failed.map((f) => f.reason).join(", ")}`);
        deps.logger.info({ pid, comm: info.comm }, "process killed");
        return done(result.killed.length > 0 ? `killed ${what} (SIGKILL after ${deps.graceMs} ms)` : `terminated ${what}`);
      } catch (err) {
        return failed(`killing ${what} failed: ${describeError(err)}`);
      }
    },
  };
}
