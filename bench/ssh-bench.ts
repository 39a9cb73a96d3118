// `npm run bench -- ssh`: the SSH parser's speed. Generates a 1,000,000-line
// auth log (traditional syslog prefixes; logins, sessions, other programs'
// lines, and brute-force bursts of every normal-mode failure family, some
// with attacker text holding other addresses in their user names), replays
// it through the ssh-brute-force processor (`secarc replay ssh-brute-force`'s
// code path, in this process) and prints lines/s beside the target. Checks
// the alerts against the generator's ground truth; exits non-zero on a
// mismatch or a missed target.
//
// Target: 250,000 lines/s of CPU time on one core. sshd itself caps what it
// can write: MaxStartups (default 10:30:100) drops unauthenticated
// connections beyond 100, and each attempt takes kex + auth (tens of ms
// without PAM, ~2 s with it), so even a flood stays under ~10,000 lines/s —
// 25× headroom for the live agent on one core, shared with everything else
// on the server; `secarc replay` of a 10 M-line day under attack takes
// under 40 s. (The nginx scanner's 2–3 M lines/s is a byte scanner of one
// format; SSH lines need a family match and connection state per line.)
import { mkdtempSync, openSync, closeSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Alert } from "../gen/secarc/v1/alert_pb.js";
import { detectorsConfigSchema } from "../agent/detectors/config.js";
import { replayFile } from "../agent/detectors/replay.js";

const TARGET_LINES_PER_CPU_SECOND = 250_000;
const LINES = 1_000_000;
const ATTACKERS = 400;
/** Lines per second of log time. */
const RATE = 50;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function stamp(t: number): string {
  const d = new Date(Date.UTC(2026, 2, 14) + t * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `Mar 14 ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** Writes the log; returns the attacker addresses that must be alerted. */
function generate(path: string): Set<string> {
  const rand = prng(7);
  const fd = openSync(path, "w");
  const attackers = new Set<string>();
  // Each attacker's burst starts at an evenly spread line, 12 attempts in ~24 s of log time.
  const burstEvery = Math.floor(LINES / ATTACKERS);
  let nextBurst = 0;
  let chunk = "";
  let pid = 1000;
  let written = 0;
  const emit = (t: number, text: string) => {
    chunk += `${stamp(t)} web1 ${text}\n`;
    written += 1;
    if (chunk.length > 1 << 16) {
      writeSync(fd, chunk);
      chunk = "";
    }
  };
  let attempt = 0;
  let attacker = "";
  while (written < LINES) {
    const t = Math.floor(written / RATE);
    const n = written;
    if (n >= nextBurst && attackers.size < ATTACKERS) {
      nextBurst += burstEvery;
      attacker = `203.0.${113 + (attackers.size >> 8)}.${attackers.size & 255}`;
      attackers.add(attacker);
      attempt = 12;
    }
    const r = rand();
    if (attempt > 0 && r < 0.1) {
      attempt -= 1;
      pid += 1;
      const port = 30_000 + (pid % 30_000);
      switch (attempt % 4) {
        case 0:
          emit(t, `sshd[${pid}]: Invalid user admin from ${attacker} port ${port}`);
          emit(t, `sshd[${pid}]: Failed password for invalid user admin from ${attacker} port ${port} ssh2`);
          emit(t, `sshd[${pid}]: Connection closed by invalid user admin ${attacker} port ${port} [preauth]`);
          break;
        case 1:
          emit(t, `sshd[${pid}]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from ${attacker} port ${port} ssh2`);
          break;
        case 2:
          emit(t, `sshd[${pid}]: User root from ${attacker} not allowed because not listed in AllowUsers`);
          emit(t, `sshd[${pid}]: Disconnected from invalid user root ${attacker} port ${port} [preauth]`);
          break;
        default:
          emit(t, `sshd[${pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${attacker}  user=root`);
          emit(t, `sshd[${pid}]: Failed password for root from ${attacker} port ${port} ssh2`);
      }
      continue;
    }
    pid += 1;
    const user = `10.1.${(pid >> 8) & 255}.${pid & 255}`;
    if (r < 0.4) {
      emit(t, `sshd[${pid}]: Accepted publickey for deploy from ${user} port ${40_000 + (pid % 20_000)} ssh2: ED25519 SHA256:Ogd6Lxp0KzUti7x6Tz/hNLmWk09650o+SvIooP1pGbw`);
      emit(t, `sshd[${pid}]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)`);
    } else if (r < 0.6) {
      emit(t, `sshd[${pid}]: Disconnected from user deploy ${user} port ${40_000 + (pid % 20_000)}`);
    } else if (r < 0.8) {
      emit(t, `CRON[${pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`);
    } else if (r < 0.9) {
      // another program's line that looks like sshd's: refused
      emit(t, `logger[${pid}]: Failed password for root from 9.9.9.9 port 1 ssh2`);
    } else {
      emit(t, `sshd[${pid}]: Received disconnect from ${user} port ${40_000 + (pid % 20_000)}:11: disconnected by user`);
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
  return attackers;
}

function main(): number {
  const dir = mkdtempSync(join(tmpdir(), "secarc-ssh-bench-"));
  try {
    const file = join(dir, "auth.log");
    const attackers = generate(file);
    const alerts: Alert[] = [];
    const stats = replayFile({
      detector: "ssh-brute-force",
      path: file,
      config: detectorsConfigSchema.parse({}),
      startTime: Date.UTC(2026, 2, 14),
      onAlert: (a) => alerts.push(a),
    });
    const alerted = new Set(alerts.map((a) => (a.subject.case === "sshFailures" ? a.subject.value.sourceIp : "")));
    const wrong = [...alerted].filter((ip) => !attackers.has(ip));
    const missed = [...attackers].filter((ip) => !alerted.has(ip));
    process.stdout.write(
      `ssh-brute-force replay: ${stats.lines} lines (${(statSync(file).size / 1e6).toFixed(0)} MB), ${stats.events} counted attempts, ${alerted.size} addresses alerted\n` +
        `  ${stats.linesPerSecond.toLocaleString("en")} lines/s wall, ${stats.linesPerCpuSecond.toLocaleString("en")} lines/s of CPU (target ≥ ${TARGET_LINES_PER_CPU_SECOND.toLocaleString("en")})\n`,
    );
    if (wrong.length > 0 || missed.length > 0) {
      process.stdout.write(`  MISMATCH: alerted but not attackers ${wrong.slice(0, 5).join(", ")}; missed ${missed.slice(0, 5).join(", ")}\n`);
      return 1;
    }
    const ok = stats.linesPerCpuSecond >= TARGET_LINES_PER_CPU_SECOND;
    process.stdout.write(`  ground truth: all ${attackers.size} attackers alerted, nothing else — ${ok ? "target met" : "BELOW TARGET"}\n`);
    return ok ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = main();
