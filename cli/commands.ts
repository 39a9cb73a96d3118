import type { Command } from "./command.js";

/**
 * One line of the `secarc` command table. Only the name and summary are
 * here: the command's module (its usage text, its code and everything that
 * code imports: gRPC, SQLite, Telegram) is loaded when the command runs or
 * prints its own help, so that `secarc --help` loads none of them.
 */
export interface CommandEntry {
  /** The word after `secarc`; must equal the loaded command's `name`. */
  name: string;
  /** One line for `secarc --help`; must equal the loaded command's `summary`. */
  summary: string;
  /** Imports the command's module. */
  load(): Promise<Command>;
}

/**
 * Every `secarc` subcommand, in the order `secarc --help` lists them. To add
 * one: write `cli/NAME-command.ts` exporting a `Command` (keep its top-level
 * imports light when its --help should be fast) and add a line here.
 * cli/commands.test.ts checks that each line matches its module.
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "controller",
    summary: "run the controller (gRPC server, store, Telegram bridge)",
    load: async () => (await import("./controller-command.js")).controllerCommand,
  },
  {
    name: "agent",
    summary: "run an agent (detectors, responders, link to the controller)",
    load: async () => (await import("./agent-command.js")).agentCommand,
  },
  {
    name: "status",
    summary: "show the controller's state: agents, Telegram, store, queues (exit 1 when something is wrong)",
    load: async () => (await import("./status-command.js")).statusCommand,
  },
  {
    name: "backup",
    summary: "copy the controller's store to a file, consistently, while it runs",
    load: async () => (await import("./backup-command.js")).backupCommand,
  },
  {
    name: "certs",
    summary: "create the CA, issue and revoke controller and agent certificates",
    load: async () => (await import("./certs-command.js")).certsCommand,
  },
  {
    name: "replay",
    summary: "run a detector over a log file and print the alerts it would raise",
    load: async () => (await import("./replay-command.js")).replayCommand,
  },
  {
    name: "test-alert",
    summary: "send a test alert through agent → controller → Telegram and report each hop",
    load: async () => (await import("./test-alert-command.js")).testAlertCommand,
  },
  {
    name: "store",
    summary: "check the controller store (full integrity check), or copy it into PostgreSQL",
    load: async () => (await import("./store-command.js")).storeCommand,
  },
  {
    name: "completion",
    summary: "print a shell completion script (bash)",
    load: async () => (await import("./completion-command.js")).completionCommand,
  },
];

/** The table line of a command name, if there is one. */
export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}
