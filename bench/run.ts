// `npm run bench`: runs every bench/*-bench.ts in its own process, one after
// the other (so that one benchmark's memory does not skew the next), and
// prints their figures. `npm run bench -- link` runs those whose name matches.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatRows, type BenchRow } from "./bench-rows.js";

const dir = fileURLToPath(new URL(".", import.meta.url));
const filter = process.argv[2];
// The two that hold 10,000 agents (about 2 GiB each) run last: for half a minute after one of them the
// machine answers slowly although nothing of it is left running (bench/README.md), which a latency
// figure of the next benchmark would count.
const LAST = ["link-bench.ts", "replicas-bench.ts"];
const rank = (f: string) => LAST.indexOf(f);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith("-bench.ts"))
  .filter((f) => !filter || f.includes(filter))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
// Every benchmark adds the rows it printed here (bench-rows.ts printRows); all of them are printed again at the end.
const rowsDir = mkdtempSync(join(tmpdir(), "secarc-bench-rows-"));
const rowsFile = join(rowsDir, "rows.jsonl");
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const started = Date.now();
process.stdout.write(`load average ${load()} at the start\n`);
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n=== ${file} ===\n`);
  try {
    execFileSync(process.execPath, ["--import", "tsx", "--expose-gc", `${dir}${file}`], { stdio: "inherit", env: { ...process.env, SECARC_BENCH_ROWS: rowsFile } });
  } catch {
    failed += 1;
    process.stdout.write(`${file} FAILED\n`);
  }
}
const rows: BenchRow[] = existsSync(rowsFile) ? readFileSync(rowsFile, "utf8").trim().split("\n").map((line) => JSON.parse(line) as BenchRow) : [];
rmSync(rowsDir, { recursive: true, force: true });
if (rows.length > 0) process.stdout.write(`\nAll figures beside their targets:\n${formatRows(rows)}\n`);
process.stdout.write(`\nload average ${load()} at the end; ${Math.round((Date.now() - started) / 60_000)} min\n`);
process.stdout.write(`\n${benches.length - failed} benchmarks ran, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
