// `npx tsx scripts/measure-cpu-sampler.ts [--rounds N] [--window MS]`: the
// agent's /proc CPU sampler against systeminformation's currentLoad, over the
// same windows, under a known load (a busy loop in a child process during
// the busy rounds) and without it; then what one reading costs each (CPU time
// of this process and wall time, i.e. how long the event loop is held).
// The figures are in docs/decisions.md ("CPU sampler").
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import si from "systeminformation";
import { createProcCpuSampler, parseProcStat } from "../agent/detectors/cpu-sampler.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "6" }, window: { type: "string", default: "2000" } }, strict: true });
const rounds = Number(values.rounds);
const windowMs = Number(values.window);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error("--rounds: 1-50");
if (!Number.isInteger(windowMs) || windowMs < 300 || windowMs > 10_000) throw new Error("--window: 300-10000 ms");

/** A child that spins one core for `ms` (bounded: it ends by itself). */
function busyChild(ms: number): ChildProcess {
  return spawn(process.execPath, ["-e", `const end = Date.now() + ${ms}; while (Date.now() < end) {}`], { stdio: "ignore" });
}

/** The aggregate cpu line's fields (user nice system idle iowait irq softirq steal guest), in ticks. */
const rawTimes = (): number[] => (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1, 10).map(Number);

const proc = createProcCpuSampler({ now: Date.now, topProcesses: 5 });
const rows: Array<{ busy: boolean; proc: number; si: number; idle: number; iowait: number; softirq: number; steal: number }> = [];
for (let i = 0; i < rounds * 2; i++) {
  const busy = i % 2 === 0;
  const child = busy ? busyChild(windowMs + 1000) : undefined;
  if (child) await sleep(300); // the child is spinning before the window opens
  // Both open the window back to back, in alternating order, and close it the same way.
  const first = i % 4 < 2;
  const both = async () => {
    if (first) return [(await proc.sample()).percent, (await si.currentLoad()).currentLoad];
    const s = (await si.currentLoad()).currentLoad;
    return [(await proc.sample()).percent, s];
  };
  await both();
  const before = rawTimes();
  await sleep(windowMs);
  const after = rawTimes();
  const [p, s] = await both();
  const d = after.map((v, k) => v - (before[k] ?? 0));
  const all = (d[0] ?? 0) + (d[1] ?? 0) + (d[2] ?? 0) + (d[3] ?? 0) + (d[4] ?? 0) + (d[5] ?? 0) + (d[6] ?? 0) + (d[7] ?? 0) || 1;
  const share = (k: number): number => ((d[k] ?? 0) / all) * 100;
  child?.kill();
  if (child) await new Promise((r) => child.once("exit", r));
  rows.push({ busy, proc: p!, si: s!, idle: share(3), iowait: share(4), softirq: share(6), steal: share(7) });
  await sleep(300);
}

const fmt = (n: number): string => n.toFixed(1).padStart(6);
process.stdout.write("round  load   /proc     si   diff | idle iowait softirq steal (% of ticks)\n");
rows.forEach((r, i) =>
  process.stdout.write(`${String(i + 1).padStart(5)}  ${r.busy ? "busy" : "idle"} ${fmt(r.proc)} ${fmt(r.si)} ${fmt(r.si - r.proc)} |${fmt(r.idle)}${fmt(r.iowait)}${fmt(r.softirq)}${fmt(r.steal)}\n`),
);
const diffs = rows.map((r) => Math.abs(r.si - r.proc));
const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
process.stdout.write(`|diff| mean ${mean.toFixed(2)} points, max ${Math.max(...diffs).toFixed(2)} points over ${rows.length} windows of ${windowMs} ms\n`);

/** CPU (user+system) and wall time of `calls` readings, spaced past si's 200 ms cache. */
async function cost(name: string, read: () => unknown, calls = 30): Promise<void> {
  let cpu = 0;
  let wall = 0;
  for (let i = 0; i < calls; i++) {
    await sleep(220);
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await read();
    wall += performance.now() - w0;
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1000;
  }
  process.stdout.write(`${name.padEnd(40)} cpu ${(cpu / calls).toFixed(2)} ms, wall ${(wall / calls).toFixed(2)} ms per reading\n`);
}
await cost("/proc/stat total (the sampler's part)", () => parseProcStat(readFileSync("/proc/stat", "utf8")));
await cost("/proc sampler (total + top processes)", () => proc.sample());
await cost("systeminformation currentLoad", () => si.currentLoad());
