import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

export const completionCommand: Command = {
  name: "completion",
  summary: "print a shell completion script (bash)",
  usage: `Usage: secarc completion bash

Prints a bash completion script for secarc: command names, their options and
sub-commands. The Debian package installs it already; otherwise:

  secarc completion bash > /etc/bash_completion.d/secarc

Options:
  -h, --help   show this help
`,
  async run(args) {
    const { positionals } = parseCommandLine("completion", args, {});
    if (positionals.length !== 1 || positionals[0] !== "bash") throw usageError("secarc completion: the shell is required; only bash is supported");
    const { bashCompletion, loadAllCommands } = await import("./help-docs.js");
    process.stdout.write(bashCompletion(await loadAllCommands()));
    return 0;
  },
};
