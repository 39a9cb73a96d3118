import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

export const controllerCommand: Command = {
  name: "controller",
  summary: "run the controller (gRPC server, store, Telegram bridge)",
  usage: `Usage: secarc controller --config FILE [--env-file FILE] [--init]

Runs the controller: accepts agents over mutual TLS, stores their alerts in
SQLite and shows them in Telegram with one button per answer. SIGHUP
reloads the config (chats, allowed users, token, policy) without ending
agent streams; an invalid config is logged and the running one stays.

Options:
  -c, --config FILE     controller config (YAML or JSON); see deploy/controller.example.yaml
      --env-file FILE   environment file with TELEGRAM_BOT_TOKEN=..., read at start and on SIGHUP
      --init            accept an empty (0-byte) store file as a new store; without it
                        such a file is refused (a lost store must not start empty)
  -h, --help            show this help
`,
  async run(args) {
    const { values } = parseCommandLine("controller", args, { config: { type: "string", short: "c" }, "env-file": { type: "string" }, init: { type: "boolean" } }, false);
    if (!values.config) throw usageError("secarc controller: --config FILE is required");
    // Loaded here, not at the top: `secarc --help` must not load gRPC, SQLite or Telegram.
    const { runController } = await import("../controller/main.js");
    return runController(values.config, { ...(values["env-file"] ? { envFile: values["env-file"] } : {}), init: values.init ?? false });
  },
};
