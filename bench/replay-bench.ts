// `npm run bench -- replay`: generates a 1,000,000-line nginx log
// (bench/nginx-log-gen.ts, deterministic) in the combined format and the
// same traffic as nginx escape=json lines, runs `secarc replay nginx-404`
// over each in a child process, prints lines/s and peak RSS beside the
// targets (combined ≥ 3 M lines/s, JSON ≥ 1 M lines/s on one core), and
// checks the alerts against the generator's ground truth. Exits non-zero on
// a mismatch.
//
// The CLI runs as it ships (`npm run build` output): bundled to plain
// JavaScript with esbuild, so that the figures do not include the tsx
// loader's own memory (~60 MB) and compile time.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NGINX_JSON_FORMAT, generateNginxLog, type ExpectedAlert } from "./nginx-log-gen.js";

const TARGET_RSS_MB = 150;

/** The formats measured, with their targets (lines per second on one core). */
const RUNS = [
  { format: "combined", target: 3_000_000 },
  { format: "json", target: 1_000_000 },
] as const;

interface ReplayLine {
  id: string;
  severity: string;
  state: string;
  subject: { clientIp: string; firstSeen: string };
}

/** Groups replay output by alert id into the generator's shape. */
export function alertsFromReplay(lines: ReplayLine[]): ExpectedAlert[] {
  const byId = new Map<string, ExpectedAlert>();
  for (const l of lines) {
    let a = byId.get(l.id);
    if (!a) {
      a = { ip: l.subject.clientIp, severities: [], firstSeen: Date.parse(l.subject.firstSeen) };
      byId.set(l.id, a);
    }
    if (l.state === "OPEN") a.severities.push(l.severity);
  }
  return [...byId.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.firstSeen - b.firstSeen));
}

/** Bundles the CLI into node_modules/.cache (where its packages resolve); returns the entry script. */
async function buildCli(): Promise<string> {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const dir = join(root, "node_modules", ".cache", "secarc-bench");
  mkdirSync(dir, { recursive: true });
  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [join(root, "cli", "secarc.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    outfile: join(dir, "secarc.mjs"),
    logLevel: "error",
  });
  const entry = join(dir, "run.mjs");
  writeFileSync(entry, 'import { main } from "./secarc.mjs";\nprocess.exitCode = await main(process.argv.slice(2));\n');
  return entry;
}

function run(cli: string, file: string, config: string | undefined): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // One thread: the figure is the speed on one core (and this bundle has no replay-worker.js beside it for the parallel replay).
    execFile(process.execPath, [cli, "replay", "nginx-404", file, "--threads", "1", ...(config ? ["--config", config] : [])], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`replay failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

async function measure(cli: string, dir: string, run_: (typeof RUNS)[number]): Promise<boolean> {
  const file = join(dir, `access-${run_.format}.log`);
  const started = Date.now();
  const generated = generateNginxLog(file, { format: run_.format });
  const size = statSync(file).size;
  process.stdout.write(`\n[${run_.format}] generated ${generated.lines} lines (${(size / 1e6).toFixed(0)} MB, ${generated.malformedLines} malformed, ${generated.expected.length} expected alerts) in ${Date.now() - started} ms\n`);
  let config: string | undefined;
  if (run_.format === "json") {
    config = join(dir, "json.yaml");
    writeFileSync(config, JSON.stringify({ detectors: { nginx404: { format: NGINX_JSON_FORMAT } } }));
  }
  const { stdout, stderr } = await run(cli, file, config);
  rmSync(file, { force: true });
  const summary = JSON.parse(stderr.trim().split("\n").pop() ?? "{}") as {
    lines: number;
    malformed: number;
    linesPerSecond: number;
    linesPerCpuSecond: number;
    cpuSeconds: number;
    peakRssMb: number;
    seconds: number;
  };
  const actual = alertsFromReplay(stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as ReplayLine));
  const fmt = (n: number) => n.toLocaleString("en");
  process.stdout.write(
    `[${run_.format}] replay: ${fmt(summary.lines)} lines in ${summary.seconds} s wall = ${fmt(summary.linesPerSecond)} lines/s; ` +
      `${summary.cpuSeconds} s CPU = ${fmt(summary.linesPerCpuSecond)} lines per CPU second; peak RSS ${summary.peakRssMb} MB; malformed ${summary.malformed}\n`,
  );
  const load = (await import("node:os")).loadavg()[0]!.toFixed(2);
  process.stdout.write(
    `[${run_.format}] target ≥ ${fmt(run_.target)} lines/s on one core: wall ${summary.linesPerSecond >= run_.target ? "met" : "NOT met"}, ` +
      `CPU ${summary.linesPerCpuSecond >= run_.target ? "met" : "NOT met"} (load average ${load}); ` +
      `RSS < ${TARGET_RSS_MB} MB: ${summary.peakRssMb < TARGET_RSS_MB ? "met" : "NOT met"}\n`,
  );
  const problems: string[] = [];
  if (summary.lines !== generated.lines) problems.push(`lines ${summary.lines} != ${generated.lines}`);
  if (summary.malformed !== generated.malformedLines) problems.push(`malformed ${summary.malformed} != ${generated.malformedLines}`);
  const key = (a: ExpectedAlert) => `${a.ip} ${a.firstSeen} ${a.severities.join(">")}`;
  const want = new Set(generated.expected.map(key));
  const got = new Set(actual.map(key));
  for (const k of want) if (!got.has(k)) problems.push(`missing alert ${k}`);
  for (const k of got) if (!want.has(k)) problems.push(`unexpected alert ${k}`);
  if (actual.length !== generated.expected.length) problems.push(`${actual.length} alerts, expected ${generated.expected.length}`);
  if (problems.length > 0) {
    process.stdout.write(`[${run_.format}] ground truth MISMATCH:\n  ${problems.slice(0, 20).join("\n  ")}\n`);
    return false;
  }
  process.stdout.write(`[${run_.format}] ground truth: all ${actual.length} alerts match (ip, first 404, severities)\n`);
  return true;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "secarc-replay-bench-"));
  try {
    const cli = await buildCli();
    let ok = true;
    for (const r of RUNS) ok = (await measure(cli, dir, r)) && ok;
    return ok ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
