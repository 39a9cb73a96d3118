import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

export const controllerCommand: Command = {
  name: "controller",
  summary: "run the controller (gRPC server, store, Telegram bridge)",
  usage: `Usage: secarc controller --config FILE

Runs the controller: accepts agents over mutual TLS, stores their alerts in
SQLite and shows them in Telegram with one button per answer.

Options:
  -c, --config FILE   controller config (YAML or JSON); see deploy/controller.example.yaml
  -h, --help          show this help
`,
  async run(args) {
    const { values } = parseCommandLine("controller", args, { config: { type: "string", short: "c" } }, false);
    if (!values.config) throw usageError("secarc controller: --config FILE is required");
    // Loaded here, not at the top: `secarc --help` must not load gRPC, SQLite or Telegram.
    const { runController } = await import("../controller/main.js");
    return runController(values.config);
  },
};
