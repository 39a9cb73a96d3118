import { existsSync } from "node:fs";
import { loadConfigFile } from "../common/config.js";
import { SecarcError, describeError } from "../common/errors.js";
import { controllerConfigSchema } from "../controller/config.js";
import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

const DEFAULT_CONFIG = "/etc/secarc/controller.yaml";

export const backupCommand: Command = {
  name: "backup",
  summary: "copy the controller's store to a file, consistently, while it runs",
  usage: `Usage: secarc backup FILE [--config FILE | --store PATH]

Writes a consistent copy of the controller's SQLite store to FILE with
SQLite's online backup (the controller may keep running; no sqlite3 command
needed). FILE must not exist. Restore: docs/operations.md.

Options:
  -c, --config FILE   controller config, to find store.path (default: ${DEFAULT_CONFIG})
      --store PATH    the store file itself (instead of --config)
  -h, --help          show this help
`,
  async run(args) {
    const { values, positionals } = parseCommandLine("backup", args, { config: { type: "string", short: "c" }, store: { type: "string" } });
    if (positionals.length !== 1) throw usageError("secarc backup: give exactly one FILE to write");
    const target = positionals[0]!;
    const store = values.store ?? loadConfigFile(controllerConfigSchema, values.config ?? DEFAULT_CONFIG).store.path;
    const pages = await backupStore(store, target);
    process.stdout.write(`backed up ${store} to ${target} (${pages} pages)\n`);
    return 0;
  },
};

/** Copies the store at `source` to `target` with better-sqlite3's online backup; resolves to the pages copied. */
export async function backupStore(source: string, target: string): Promise<number> {
  if (!existsSync(source)) throw new SecarcError("input_invalid", `no store at ${source}`);
  if (existsSync(target)) throw new SecarcError("input_invalid", `${target} exists; choose a new file (a backup never overwrites)`);
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(source, { fileMustExist: true });
  try {
    const result = await db.backup(target);
    const check = new Database(target, { readonly: true });
    try {
      const verdict = check.pragma("integrity_check", { simple: true });
      if (verdict !== "ok") throw new SecarcError("internal", `the backup ${target} fails its integrity check: ${String(verdict)}`);
    } finally {
      check.close();
    }
    return result.totalPages;
  } catch (err) {
    if (err instanceof SecarcError) throw err;
    throw new SecarcError("command_failed", `backup of ${source} to ${target} failed: ${describeError(err)}`, { cause: err });
  } finally {
    db.close();
  }
}
