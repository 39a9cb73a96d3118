import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

export const storeCommand: Command = {
  name: "store",
  summary: "check the controller store (full integrity check)",
  usage: `Usage: secarc store check --config FILE

Runs SQLite's full integrity check (every page, every index against its
table) on the controller store named in the config, read-only. Prints "ok"
and exits 0 when the store is sound; prints each problem and exits 1 when it
is damaged (then restore the last backup: docs/operations.md, "Store checks
and restore"). The controller itself runs the quicker PRAGMA quick_check at
every start. Safe while the controller runs.

Options:
  -c, --config FILE   controller config (YAML or JSON)
  -h, --help          show this help
`,
  async run(args) {
    const { values, positionals } = parseCommandLine("store", args, { config: { type: "string", short: "c" } }, true);
    if (positionals[0] !== "check" || positionals.length !== 1) throw usageError("secarc store: the subcommand is `check` (secarc store check --config FILE)");
    if (!values.config) throw usageError("secarc store check: --config FILE is required");
    const { loadConfigFile } = await import("../common/config.js");
    const { controllerConfigSchema } = await import("../controller/config.js");
    const { checkStoreIntegrity } = await import("../controller/store/store-integrity.js");
    const config = loadConfigFile(controllerConfigSchema, values.config);
    const problems = checkStoreIntegrity(config.store.path);
    if (problems.length === 0) {
      process.stdout.write(`${config.store.path}: ok\n`);
      return 0;
    }
    process.stdout.write(`${config.store.path}: damaged\n${problems.map((p) => `  ${p}\n`).join("")}`);
    return 1;
  },
};
