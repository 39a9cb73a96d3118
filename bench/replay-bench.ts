// `npm run bench -- replay`: generates a 1,000,000-line nginx combined log
// (bench/nginx-log-gen.ts, deterministic), runs `secarc replay nginx-404`
// over it in a child process, prints lines/s and peak RSS, and checks the
// alerts against the generator's ground truth. Exits non-zero on a mismatch.
//
// The CLI runs as it ships (`npm run build` output): bundled to plain
// JavaScript with esbuild, so that the figures do not include the tsx
// loader's own memory (~60 MB) and compile time.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateNginxLog, type ExpectedAlert } from "./nginx-log-gen.js";

const TARGET_LINES_PER_SECOND = 2_000_000;
const TARGET_RSS_MB = 150;

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

function run(cli: string, file: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, "replay", "nginx-404", file], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`replay failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "secarc-replay-bench-"));
  try {
    const file = join(dir, "access.log");
    const started = Date.now();
    const generated = generateNginxLog(file);
    const size = statSync(file).size;
    process.stdout.write(`generated ${generated.lines} lines (${(size / 1e6).toFixed(0)} MB, ${generated.malformedLines} malformed, ${generated.expected.length} expected alerts) in ${Date.now() - started} ms\n`);
    const { stdout, stderr } = await run(await buildCli(), file);
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
      `replay: ${fmt(summary.lines)} lines in ${summary.seconds} s wall = ${fmt(summary.linesPerSecond)} lines/s; ` +
        `${summary.cpuSeconds} s CPU = ${fmt(summary.linesPerCpuSecond)} lines per CPU second; peak RSS ${summary.peakRssMb} MB; malformed ${summary.malformed}\n`,
    );
    const load = (await import("node:os")).loadavg()[0]!.toFixed(2);
    process.stdout.write(
      `target ≥ ${fmt(TARGET_LINES_PER_SECOND)} lines/s on one core: wall ${summary.linesPerSecond >= TARGET_LINES_PER_SECOND ? "met" : "NOT met"}, ` +
        `CPU ${summary.linesPerCpuSecond >= TARGET_LINES_PER_SECOND ? "met" : "NOT met"} (load average ${load}); ` +
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
      process.stdout.write(`ground truth MISMATCH:\n  ${problems.slice(0, 20).join("\n  ")}\n`);
      return 1;
    }
    process.stdout.write(`ground truth: all ${actual.length} alerts match (ip, first 404, severities)\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
