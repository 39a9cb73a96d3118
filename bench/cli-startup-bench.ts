// `npm run bench -- cli-startup`: how long `secarc` takes to start, compiled
// as it ships (tsc + the esbuild bundle of scripts/build-extras.ts, the tree
// the package installs), against a bare `node -e 0` on the same machine.
// Targets: `secarc --help` and `secarc replay` on a 10-line file under
// 150 ms (issue 13); `secarc replay nginx-404`'s start under 100 ms (issue
// 17: a replay loads only its detector). Prints the median and the fastest
// of several runs each, and the CPU time per run.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCompiledCli } from "./compiled-cli.js";
import { printRows } from "./bench-rows.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "bench/out/cli-startup");
const RUNS = 15;
const TARGET_MS = 150;
const REPLAY_START_TARGET_MS = 100;

/** CPU time of this process's waited-for children so far (ms), from /proc/self/stat (cutime + cstime, 10 ms ticks). */
function childrenCpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /s, "").split(" ");
  // after "pid (comm) ", field 3 is index 0: cutime and cstime are fields 16 and 17
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

interface Timing {
  median: number;
  min: number;
  /** Mean CPU time (user + system) per run: less sensitive to a loaded machine than wall time. */
  cpu: number;
}

function time(args: string[]): Timing {
  const cpuBefore = childrenCpuMs();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, min: ms[0]!, cpu: (childrenCpuMs() - cpuBefore) / RUNS };
}

const cli = buildCompiledCli(OUT);
const log = join(OUT, "auth-10.log");
writeFileSync(
  log,
  Array.from({ length: 10 }, (_, i) => `Dec  1 10:00:0${i} web-1 sshd[900]: Failed password for root from 203.0.113.${i + 1} port ${40000 + i} ssh2\n`).join(""),
);
const access = join(OUT, "access-10.log");
writeFileSync(
  access,
  Array.from({ length: 10 }, (_, i) => `203.0.113.${i + 1} - - [01/Dec/2026:10:00:0${i} +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "scanner"\n`).join(""),
);
const baseline = time(["-e", "0"]);
const replayStart = time([cli, "replay", "nginx-404", access]);
const rows: [string, Timing, boolean][] = [
  ["node -e 0", baseline, false],
  ["secarc --help", time([cli, "--help"]), true],
  ["secarc --version", time([cli, "--version"]), false],
  ["secarc replay ssh-brute-force (10 lines)", time([cli, "replay", "ssh-brute-force", log]), true],
  ["secarc replay nginx-404 (10 lines)", replayStart, true],
];
let over = 0;
process.stdout.write(`CLI start-up, ${RUNS} runs each: wall median / fastest, CPU per run (target ${TARGET_MS} ms wall for --help and replay)\n`);
for (const [name, t, targeted] of rows) {
  const verdict = targeted ? (t.median < TARGET_MS ? "  ok" : "  OVER") : "";
  if (targeted && t.median >= TARGET_MS) over += 1;
  const wall = `${t.median.toFixed(0).padStart(5)} ms / ${t.min.toFixed(0).padStart(5)} ms`;
  process.stdout.write(`  ${name.padEnd(42)} ${wall}  cpu ${t.cpu.toFixed(0).padStart(4)} ms  (+${(t.median - baseline.median).toFixed(0)} ms over node)${verdict}\n`);
}
if (over > 0) process.stdout.write(`  ${over} over the target (a loaded machine slows node -e 0 too: compare the +ms column)\n`);
printRows("replay start figure", [
  {
    figure: "`secarc replay nginx-404` start (10-line file, compiled)",
    measured: `${replayStart.median.toFixed(0)} ms wall (median of ${RUNS}; CPU ${replayStart.cpu.toFixed(0)} ms; node -e 0: ${baseline.median.toFixed(0)} ms wall, CPU ${baseline.cpu.toFixed(0)} ms)`,
    target: `< ${REPLAY_START_TARGET_MS} ms`,
    met: replayStart.median < REPLAY_START_TARGET_MS,
  },
]);
