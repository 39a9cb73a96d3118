// `npm run bench`: runs every bench/*-bench.ts in its own process, one after
// the other (so that one benchmark's memory does not skew the next), and
// prints their figures. `npm run bench -- link` runs those whose name matches.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const filter = process.argv[2];
const benches = readdirSync(dir)
  .filter((f) => f.endsWith("-bench.ts"))
  .filter((f) => !filter || f.includes(filter))
  .sort();
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n=== ${file} ===\n`);
  try {
    execFileSync(process.execPath, ["--import", "tsx", "--expose-gc", `${dir}${file}`], { stdio: "inherit" });
  } catch {
    failed += 1;
    process.stdout.write(`${file} FAILED\n`);
  }
}
process.stdout.write(`\n${benches.length - failed} benchmarks ran, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
