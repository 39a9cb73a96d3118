import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

export const agentCommand: Command = {
  name: "agent",
  summary: "run an agent (detectors, responders, link to the controller)",
  usage: `Usage: secarc agent --config FILE

Runs an agent on a monitored server: follows logs and samples CPU, sends
alerts to the controller, and carries out the answers operators choose.

With --check, starts the enabled detectors dry (no controller, nothing
written), prints what each one reads — "following /var/log/auth.log",
"waiting: /var/log/nginx/access.log does not exist", "no source: no auth
log and no sshd in journald", "unreadable: ... EACCES" — and exits: 0 when
every detector sees its source, 1 when one sees nothing.

Options:
  -c, --config FILE   agent config (YAML or JSON); see deploy/agent.example.yaml
      --check         dry start of the detectors: print each one's source and exit
  -h, --help          show this help
`,
  async run(args) {
    const { values } = parseCommandLine("agent", args, { config: { type: "string", short: "c" }, check: { type: "boolean" } }, false);
    if (!values.config) throw usageError("secarc agent: --config FILE is required");
    // Loaded here, not at the top: `secarc --help` must not load gRPC, SQLite or Telegram.
    const { checkAgent, runAgent } = await import("../agent/main.js");
    return values.check ? checkAgent(values.config) : runAgent(values.config);
  },
};
