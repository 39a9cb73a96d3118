import type { Command } from "./command.js";
import { parseCommandLine } from "./command.js";

export const replayCommand: Command = {
  name: "replay",
  summary: "run a detector over a log file and print the alerts it would raise",
  usage: `Usage: secarc replay <detector> <file> [--config FILE]

Runs a detector over a past log as fast as it can, using the log's own
timestamps, and prints one JSON line per alert. Use it to tune thresholds.

Detectors: nginx-404, ssh-session, ssh-brute-force

Options:
  -c, --config FILE   agent config whose detector settings to use (default: built-in defaults)
  -h, --help          show this help
`,
  async run(args) {
    parseCommandLine("replay", args, { config: { type: "string", short: "c" } });
    throw new Error("not available in this build yet");
  },
};
