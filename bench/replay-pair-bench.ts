// `npm run bench -- replay-pair`: issue 17's replay row. One 1,000,000-line
// nginx combined log (bench/nginx-log-gen.ts, deterministic), then in one
// paired run on the same file, each as a whole process timed from spawn to
// exit:
// - `secarc replay nginx-404` compiled as it ships (tsc + the esbuild bundle
//   of scripts/build-extras.ts, built into bench/out/replay-pair/), median
//   of 3 runs, with its default threads (one for this file) and with
//   `--threads 2`;
// - the same from a checkout (TypeScript through tsx, as bin/secarc.js runs
//   it without dist/), median of 3;
// - `fail2ban-regex` (Debian's fail2ban) with the equivalent filter: a
//   failregex for a 404 in the status field and the datepattern of
//   fail2ban's own nginx filters; once (it is slow). Skipped, with the
//   reason, when fail2ban-regex is not installed.
// Target: the compiled replay ≥ 100× faster than fail2ban-regex.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCompiledCli } from "./compiled-cli.js";
import { median, printRows, type BenchRow } from "./bench-rows.js";
import { generateNginxLog } from "./nginx-log-gen.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "bench/out/replay-pair");
const TARGET_RATIO = 100;
const RUNS = 3;
const FAIL2BAN_REGEX = "/usr/bin/fail2ban-regex";
/** fail2ban-regex is stopped after this long (it takes 12-20 s on an idle machine). */
const FAIL2BAN_TIMEOUT_MS = 10 * 60_000;

/**
 * The fail2ban filter that finds what the 404 detector counts. fail2ban cuts
 * the matched date out of the line before the failregex runs: hence `\[\]`.
 * The datepattern is the one of Debian's filter.d/nginx-botsearch.conf and
 * nginx-bad-request.conf: without one, fail2ban tries every date template it
 * knows on each line: 14.7 s instead of 1.9 s for 100,000 lines of the
 * benchmark's log, and not how an nginx jail reads its log.
 * (The jail's maxretry/findtime would be 20 and 60 s; fail2ban-regex tests
 * only the filter, so this pairing times reading and matching the lines.)
 */
const FILTER = `[Definition]
failregex = ^<HOST> \\S+ \\S+ \\[\\] "[^"]*" 404 \\d+ 
ignoreregex =
datepattern = {^LN-BEG}%%ExY(?P<_sep>[-/.])%%m(?P=_sep)%%d[T ]%%H:%%M:%%S(?:[.,]%%f)?(?:\\s*%%z)?
              ^[^\\[]*\\[({DATE})
              {^LN-BEG}
`;

/** What bin/secarc.js does in a checkout without dist/: tsx, then cli/secarc.ts. */
function checkoutLauncher(): string {
  const file = join(OUT, "checkout.mjs");
  writeFileSync(
    file,
    `import { register } from "tsx/esm/api";\nregister();\nconst cli = await import(${JSON.stringify(join(ROOT, "cli/secarc.ts"))});\nprocess.exitCode = await cli.main(process.argv.slice(2));\n`,
  );
  return file;
}

/** Wall seconds of one whole process; its stderr (the replay's summary, fail2ban's report is on stdout). */
function timed(command: string, args: string[], timeoutMs = 0): { seconds: number; stdout: string; stderr: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs, killSignal: "SIGKILL" });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.error) throw new Error(`${command} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return { seconds, stdout: r.stdout, stderr: r.stderr };
}

function replayRuns(cli: string, log: string, extra: string[] = []): { seconds: number; summary: { lines: number; events: number; threads: number } } {
  const runs = Array.from({ length: RUNS }, () => timed(process.execPath, [cli, "replay", "nginx-404", ...extra, log]));
  const summary = JSON.parse(runs[0]!.stderr.trim().split("\n").pop() ?? "{}") as { lines: number; events: number; threads: number };
  return { seconds: median(runs.map((r) => r.seconds)), summary };
}

const compiled = buildCompiledCli(OUT); // empties OUT first
const log = join(OUT, "access-1m.log");
const generated = generateNginxLog(log, { lines: 1_000_000 });
const fromCheckout = checkoutLauncher();
const load = (): string => readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;
process.stdout.write(`replay pair: ${generated.lines.toLocaleString("en")} lines, load average ${load()} before\n`);
const built = replayRuns(compiled, log);
// The same on two threads (the default takes one below PARALLEL_MIN_BYTES, as this file is): to compare.
const builtTwo = replayRuns(compiled, log, ["--threads", "2"]);
const checkout = replayRuns(fromCheckout, log);
const rows: BenchRow[] = [];
const fmt = (s: number) => `${s.toFixed(2)} s`;
const threadsOf = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;
let f2b: number | undefined;
let f2bNote = "";
if (!existsSync(FAIL2BAN_REGEX)) {
  f2bNote = `fail2ban-regex not found at ${FAIL2BAN_REGEX} (apt-get install fail2ban): pairing skipped`;
} else {
  const filter = join(OUT, "nginx-404.conf");
  writeFileSync(filter, FILTER);
  try {
    const run = timed(FAIL2BAN_REGEX, [log, filter], FAIL2BAN_TIMEOUT_MS);
    f2b = run.seconds;
    const matched = /(\d+) matched/.exec(run.stdout)?.[1];
    // Both must count the same lines: fail2ban's <HOST> also takes the generator's 404 lines whose address is no IP, which the replay refuses.
    const same = Number(matched) === built.summary.events + generated.badAddress404Lines;
    f2bNote = `fail2ban-regex ${fmt(f2b)}, ${matched ?? "?"} lines matched ${same ? "=" : "≠"} the replay's ${built.summary.events} 404 events + ${generated.badAddress404Lines} 404 lines whose address is not an IP (the replay refuses them)`;
    if (!same) process.exitCode = 1;
  } catch (err) {
    f2bNote = `fail2ban-regex gave no figure (${(err as Error).message.split("\n")[0]}; limit ${FAIL2BAN_TIMEOUT_MS / 60_000} min): pairing not measured`;
  }
}
const ratio = (s: number) => (f2b === undefined ? "" : `, ${(f2b / s).toFixed(0)}× faster than fail2ban-regex`);
rows.push({
  figure: "`secarc replay nginx-404`, 1 M lines, whole process, compiled",
  measured: `${fmt(built.seconds)} (${threadsOf(built.summary.threads)})${ratio(built.seconds)}`,
  target: `≥ ${TARGET_RATIO}× faster than fail2ban-regex`,
  met: f2b === undefined ? undefined : f2b / built.seconds >= TARGET_RATIO,
});
rows.push({
  figure: "the same, compiled, `--threads 2`",
  measured: `${fmt(builtTwo.seconds)} (${threadsOf(builtTwo.summary.threads)})${ratio(builtTwo.seconds)}`,
  target: `≥ ${TARGET_RATIO}× faster than fail2ban-regex`,
  met: f2b === undefined ? undefined : f2b / builtTwo.seconds >= TARGET_RATIO,
});
rows.push({
  figure: "`secarc replay nginx-404`, 1 M lines, whole process, from a checkout",
  measured: `${fmt(checkout.seconds)} (${threadsOf(checkout.summary.threads)})${ratio(checkout.seconds)}`,
  target: `≥ ${TARGET_RATIO}× faster than fail2ban-regex`,
  met: f2b === undefined ? undefined : f2b / checkout.seconds >= TARGET_RATIO,
});
printRows("replay pair figures", rows);
process.stdout.write(`${f2bNote}; secarc: median of ${RUNS}; load average ${load()} after\n`);
rmSync(log, { force: true });
if (built.summary.lines !== generated.lines) {
  process.stdout.write(`replay read ${built.summary.lines} lines, the log has ${generated.lines}\n`);
  process.exitCode = 1;
}
