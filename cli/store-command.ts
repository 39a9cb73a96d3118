import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

export const storeCommand: Command = {
  name: "store",
  summary: "check the controller store (full integrity check), or copy it into PostgreSQL",
  usage: `Usage: secarc store check --config FILE
       secarc store copy --from FILE --to postgres://USER@HOST:PORT/DATABASE [--admin-socket PATH]

check: runs SQLite's full integrity check (every page, every index against
its table) on the controller store named in the config, read-only. Prints
"ok" and exits 0 when the store is sound; prints each problem and exits 1
when it is damaged (then restore the last backup: docs/operations.md, "Store
checks and restore"). The controller itself runs the quicker PRAGMA
quick_check at every start. Safe while the controller runs.

copy: moves a SQLite store into an empty PostgreSQL database (from one box
to several controllers: docs/operations.md, "From SQLite to PostgreSQL").
The controller must be stopped: the copy refuses while its admin socket
answers or while anything has the SQLite file open, and holds the file for
itself until it is done. The database is migrated, every table is copied in
one transaction, and the copy commits only when every table's row count in
PostgreSQL matches SQLite's; it prints each table with its count. Put the
password in PGPASSWORD rather than in the URL (command lines are visible to
other users). The SQLite file is left as it was.

Options:
  -c, --config FILE        controller config (check)
      --from FILE          the SQLite store (copy)
      --to URL             the PostgreSQL database (copy)
      --admin-socket PATH  the controller's admin socket (copy; default: admin.sock beside --from)
  -h, --help               show this help
`,
  async run(args) {
    const { values, positionals } = parseCommandLine(
      "store",
      args,
      { config: { type: "string", short: "c" }, from: { type: "string" }, to: { type: "string" }, "admin-socket": { type: "string" } },
      true,
    );
    if (positionals[0] === "copy" && positionals.length === 1) return copy(values.from, values.to, values["admin-socket"]);
    if (positionals[0] !== "check" || positionals.length !== 1) throw usageError("secarc store: the subcommand is `check` (secarc store check --config FILE) or `copy` (secarc store copy --from FILE --to URL)");
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

async function copy(from: string | undefined, to: string | undefined, adminSocket: string | undefined): Promise<number> {
  if (!from || !to) throw usageError("secarc store copy: --from FILE and --to postgres://… are both required");
  if (!/^postgres(ql)?:\/\//.test(to)) throw usageError("secarc store copy: --to must be a postgres:// or postgresql:// URL");
  const { dirname, join } = await import("node:path");
  const { copySqliteToPostgres } = await import("../controller/store/postgres-copy.js");
  const { redactUrl } = await import("../controller/store/postgres-store.js");
  const report = await copySqliteToPostgres({ from, to, adminSocket: adminSocket ?? join(dirname(from), "admin.sock") });
  const width = Math.max(...report.tables.map((t) => t.table.length));
  process.stdout.write(`copied ${from} to ${redactUrl(to)}; rows per table, the same on both sides:\n`);
  for (const { table, rows } of report.tables) process.stdout.write(`  ${table.padEnd(width)}  ${rows}\n`);
  return 0;
}
