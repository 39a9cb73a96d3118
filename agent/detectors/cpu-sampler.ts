import { readFileSync, readdirSync } from "node:fs";

/**
 * Reads CPU usage from /proc: total usage from /proc/stat deltas, and the
 * busiest processes from /proc/PID/stat deltas between two samples.
 *
 * Total: busy = user + nice + system + irq + softirq + steal (guest time is
 * already inside user and nice); idle = idle + iowait. Usage is the busy
 * share of all ticks since the previous sample, over all cores (0-100).
 */

export interface CpuTimes {
  busy: number;
  total: number;
}

export interface ProcessSample {
  pid: number;
  name: string;
  /** CPU percent of one core since the previous sample (may exceed 100). */
  cpuPercent: number;
  /** Start time in clock ticks since boot (field 22 of /proc/PID/stat). */
  startTicks: bigint;
  user: string;
}

export interface CpuReading {
  /** Total usage in percent of all cores since the previous reading. */
  percent: number;
  /** Busiest processes since the previous reading, busiest first. */
  top: ProcessSample[];
}

/** Produces one reading per call; the first call primes it and reads usage since boot. */
export interface CpuSampler {
  sample(): Promise<CpuReading>;
}

/** Parses the aggregate "cpu" line of /proc/stat. */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split("\n", 1)[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

export interface ProcStat {
  pid: number;
  name: string;
  /** utime + stime, ticks. */
  ticks: number;
  startTicks: bigint;
}

/** Parses /proc/PID/stat; the name (comm) may hold spaces and parentheses, so fields are counted after the last ")". */
export function parseProcessStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const start = rest[19];
  if (!Number.isFinite(utime) || !Number.isFinite(stime) || start === undefined || !/^\d+$/.test(start)) return undefined;
  return { pid: Number(text.slice(0, open).trim()), name: text.slice(open + 1, close), ticks: utime + stime, startTicks: BigInt(start) };
}

function readUsers(): Map<number, string> {
  const users = new Map<number, string>();
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [name, , uid] = line.split(":");
      if (name && uid) users.set(Number(uid), name);
    }
  } catch {
    // names stay unknown
  }
  return users;
}

function processUid(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^Uid:\s+(\d+)/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcCpuSamplerOptions {
  /** Processes in a reading. Default: 5. */
  topProcesses?: number;
  /** Clock ticks per second (getconf CLK_TCK). Default: 100. */
  ticksPerSecond?: number;
  /** The clock, for per-process rates. */
  now(): number;
}

export function createProcCpuSampler(options: ProcCpuSamplerOptions): CpuSampler {
  const topN = options.topProcesses ?? 5;
  const hz = options.ticksPerSecond ?? 100;
  const users = readUsers();
  let previous: CpuTimes | undefined;
  let previousProcs = new Map<string, number>(); // "pid start" → ticks
  let previousAt = 0;

  function readProcesses(): ProcStat[] {
    const out: ProcStat[] = [];
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = parseProcessStat(readFileSync(`/proc/${name}/stat`, "utf8"));
        if (stat) out.push(stat);
      } catch {
        // the process exited meanwhile
      }
    }
    return out;
  }

  return {
    async sample() {
      const times = parseProcStat(readFileSync("/proc/stat", "utf8"));
      const base = previous ?? { busy: 0, total: 0 };
      const dTotal = times.total - base.total;
      const percent = dTotal > 0 ? Math.min(100, Math.max(0, ((times.busy - base.busy) / dTotal) * 100)) : 0;
      previous = times;
      const at = options.now();
      const elapsed = (at - previousAt) / 1000;
      const procs = readProcesses();
      const nextProcs = new Map<string, number>();
      const rated: { stat: ProcStat; percent: number }[] = [];
      for (const stat of procs) {
        const key = `${stat.pid} ${stat.startTicks}`;
        nextProcs.set(key, stat.ticks);
        const before = previousProcs.get(key);
        if (before === undefined || elapsed <= 0) continue;
        rated.push({ stat, percent: ((stat.ticks - before) / hz / elapsed) * 100 });
      }
      previousProcs = nextProcs;
      previousAt = at;
      rated.sort((a, b) => b.percent - a.percent);
      const top = rated.slice(0, topN).map(({ stat, percent: p }) => {
        const uid = processUid(stat.pid);
        return { pid: stat.pid, name: stat.name, cpuPercent: Math.round(p * 10) / 10, startTicks: stat.startTicks, user: uid === undefined ? "" : (users.get(uid) ?? String(uid)) };
      });
      return { percent, top };
    },
  };
}
