import { existsSync } from "node:fs";
import { Answer, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import type { Logger } from "../../common/log.js";
import type { PowerConfig } from "./config.js";
import { commandError, formatCommand, type Command, type ProgramRunner } from "./program-runner.js";
import { done, dryRunDone, durationMs, failed, humanDuration, refused } from "./result.js";
import type { ResponderResult, Responder } from "./responder.js";

/**
 * REBOOT and SHUTDOWN after a delay (options.delay, else config.delay).
 * With systemd: `systemctl reboot|poweroff`, through `systemd-run
 * --on-active=Ns` when delayed; otherwise `shutdown -r|-h +MINUTES` (or
 * `now`). The result means "scheduled": the exactly-once guarantee comes
 * from the agent's journal, which records the action before this runs.
 */

export interface PowerResponderDeps {
  runner: ProgramRunner;
  logger: Logger;
  dryRun: boolean;
  /** Whether systemd runs here. Default: /run/systemd/system exists. */
  hasSystemd?: () => boolean;
}

/** The command that reboots (or powers off) after `delayMs`. */
export function powerCommand(answer: Answer.REBOOT | Answer.SHUTDOWN, delayMs: number, method: "systemctl" | "shutdown", unitSuffix: string): Command {
  const reboot = answer === Answer.REBOOT;
  if (method === "systemctl") {
    const verb = reboot ? "reboot" : "poweroff";
    if (delayMs <= 0) return { file: "systemctl", args: [verb] };
    const seconds = Math.ceil(delayMs / 1000);
    return {
      file: "systemd-run",
      args: [`--unit=secarc-${verb}-${unitSuffix}`, `--on-active=${seconds}s`, "--timer-property=AccuracySec=1s", "/usr/bin/systemctl", verb],
    };
  }
  const when = delayMs <= 0 ? "now" : `+${effectiveDelayMs(delayMs, "shutdown") / 60_000}`;
  return { file: "shutdown", args: [reboot ? "-r" : "-h", when, "SecARC: operator request"] };
}

/**
 * The delay the command really waits: systemd timers count seconds, while
 * `shutdown` counts whole minutes, so 5 s there is 1 min. What the operator
 * reads is this, never the requested delay.
 */
export function effectiveDelayMs(delayMs: number, method: "systemctl" | "shutdown"): number {
  if (delayMs <= 0) return 0;
  return method === "shutdown" ? Math.ceil(delayMs / 60_000) * 60_000 : Math.ceil(delayMs / 1000) * 1000;
}

export function createPowerResponder(config: PowerConfig, deps: PowerResponderDeps): Responder {
  const hasSystemd = deps.hasSystemd ?? (() => existsSync("/run/systemd/system"));
  return {
    name: "power",
    answers: [Answer.REBOOT, Answer.SHUTDOWN],
    async execute(action: ResponseAction): Promise<ResponderResult> {
      if (action.answer !== Answer.REBOOT && action.answer !== Answer.SHUTDOWN) {
        return refused(`power does not carry out ${Answer[action.answer] ?? action.answer}`);
      }
      const delay = durationMs(action.options?.delay);
      if (typeof delay === "object") return refused(delay.error);
      const delayMs = delay ?? config.delay;
      const method = config.method === "auto" ? (hasSystemd() ? "systemctl" : "shutdown") : config.method;
      // The unit name carries the action id's safe characters only.
      const suffix = action.actionId.replace(/[^A-Za-z0-9]/g, "").slice(0, 32) || "action";
      const command = powerCommand(action.answer, delayMs, method, suffix);
      const waitMs = effectiveDelayMs(delayMs, method);
      const what = `${action.answer === Answer.REBOOT ? "reboot" : "shut down"} ${waitMs > 0 ? `in ${humanDuration(waitMs)}` : "now"}`;
      if (deps.dryRun) return dryRunDone(`${what}: ${formatCommand(command)}`);
      const result = await deps.runner.run(command);
      if (result.code !== 0) return failed(`${what} failed: ${commandError(command, result)}`);
      deps.logger.warn({ command: formatCommand(command) }, "power action scheduled");
      return done(`${what} scheduled (${formatCommand(command)})`);
    },
  };
}
