import { createProgramRunner, type ProgramRunner } from "../../agent/responders/program-runner.js";

/** Runs every command inside network namespace `ns` (`ip netns exec NS file ...args`): responders under test act on a namespace's firewall. */
export function createNetnsRunner(ns: string, inner: ProgramRunner = createProgramRunner()): ProgramRunner {
  return {
    run(command) {
      return inner.run({ ...command, file: "ip", args: ["netns", "exec", ns, command.file, ...command.args] });
    },
  };
}
