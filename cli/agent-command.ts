import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

export const agentCommand: Command = {
  name: "agent",
  summary: "run an agent (detectors, responders, link to the controller)",
  usage: `Usage: secarc agent --config FILE

Runs an agent on a monitored server: follows logs and samples CPU, sends
alerts to the controller, and carries out the answers operators choose.

Options:
  -c, --config FILE   agent config (YAML or JSON); see deploy/agent.example.yaml
  -h, --help          show this help
`,
  async run(args) {
    const { values } = parseCommandLine("agent", args, { config: { type: "string", short: "c" } }, false);
    if (!values.config) throw usageError("secarc agent: --config FILE is required");
    // Loaded here, not at the top: `secarc --help` must not load gRPC, SQLite or Telegram.
    const { runAgent } = await import("../agent/main.js");
    return runAgent(values.config);
  },
};
