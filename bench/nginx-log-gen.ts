// A deterministic generator of nginx "combined" access logs for the 404
// detector's benchmark and tests: seeded PRNG, normal traffic (IPv4 and
// IPv6) that never reaches the warning threshold, scanners whose bursts
// land exactly on and around the thresholds (19/20/21, 49/50/51, 20 spread
// over exactly one window, bursts straddling minute boundaries), malformed
// and oversized lines, and "404" in places other than the status field.
// It returns the alerts a correct detector must raise: the ground truth.
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";

export interface GeneratorOptions {
  /** Total lines written. Default: 1,000,000. */
  lines?: number;
  /** PRNG seed. Default: 42. */
  seed?: number;
  /** Seconds of traffic. Default: 7200. */
  durationSeconds?: number;
  /** Thresholds and window the ground truth assumes. Default: 20, 50, 60 s. */
  warning?: number;
  critical?: number;
  windowSeconds?: number;
  /** "combined" or "json" (nginx `escape=json`, see NGINX_JSON_FORMAT). Default: combined. */
  format?: "combined" | "json";
}

/** The nginx log_format the "json" lines are written in (give it to the detector as `format`). */
export const NGINX_JSON_FORMAT = `escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request","status":$status,"body_bytes_sent":$body_bytes_sent,"http_referer":"$http_referer","http_user_agent":"$http_user_agent","request_time":$request_time}'`;

/** One alert (one burst of one client) a correct detector raises. */
export interface ExpectedAlert {
  ip: string;
  /** Severities of its open revisions, in order: ["WARNING"] or ["WARNING", "CRITICAL"]. */
  severities: string[];
  /** Unix ms of its first 404. */
  firstSeen: number;
}

export interface GeneratedLog {
  lines: number;
  malformedLines: number;
  /** Of the malformed lines, those with status 404 whose client address is not an IP (999.1.2.3): a filter that takes any host there counts them, the 404 detector refuses them. */
  badAddress404Lines: number;
  expected: ExpectedAlert[];
}

/** mulberry32: small, fast, good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const START_MS = Date.UTC(2026, 0, 10, 22, 0, 0);
const OFFSET_MINUTES = 60; // logs written in +0100
const PATHS = ["/", "/index.html", "/css/site.css", "/js/app.js", "/img/logo.png", "/api/items?page=2", "/about", "/blog/2025/11/hello"];
const MISSING = ["/wp-login.php", "/.env", "/admin/config.php", "/phpmyadmin/", "/.git/HEAD", "/backup.zip", "/cgi-bin/test.cgi", "/vendor/phpunit/eval-stdin.php"];
const AGENTS = [
  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
  "curl/8.5.0",
];

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** "10/Jan/2026:23:00:00 +0100" for second `s` of the run. */
function timeLocal(ms: number): string {
  const d = new Date(ms + OFFSET_MINUTES * 60_000);
  const sign = OFFSET_MINUTES >= 0 ? "+" : "-";
  const off = Math.abs(OFFSET_MINUTES);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${sign}${pad(Math.floor(off / 60))}${pad(off % 60)}`;
}

function combinedLine(ip: string, time: string, path: string, status: number, bytes: number, agent: string, referer = "-"): string {
  return `${ip} - - [${time}] "GET ${path} HTTP/1.1" ${status} ${bytes} "${referer}" "${agent}"\n`;
}

/** "2026-01-10T23:00:00+01:00" from a time_local string of the generator. */
function isoOfLocal(time: string): string {
  const [date, hms] = [time.slice(0, 11), time.slice(12, 20)];
  const month = String(MONTHS.indexOf(date.slice(3, 6)) + 1).padStart(2, "0");
  return `${date.slice(7, 11)}-${month}-${date.slice(0, 2)}T${hms}+01:00`;
}

function jsonLine(ip: string, time: string, path: string, status: number, bytes: number, agent: string, referer = "-"): string {
  return `{"time":"${isoOfLocal(time)}","remote_addr":"${ip}","request":"GET ${path} HTTP/1.1","status":${status},"body_bytes_sent":${bytes},"http_referer":"${referer}","http_user_agent":"${agent}","request_time":0.002}\n`;
}

/** The malformed lines of each format (kinds 0-4: garbage, truncated, bad address, bad time, empty). */
function malformedLine(format: "combined" | "json", kind: number, time: string, ip7: string): string {
  if (format === "json") {
    if (kind === 0) return "garbage line without any structure 404 404 404\n";
    if (kind === 1) return `{"time":"${isoOfLocal(time)}","remote_addr":"${ip7}","request":"GET /truncated\n`;
    if (kind === 2) return jsonLine("999.1.2.3", time, "/x", 404, 0, "-");
    if (kind === 3) return `{"time":"not a time at all","remote_addr":"10.0.0.1","request":"GET /y HTTP/1.1","status":404,"body_bytes_sent":0,"http_referer":"-","http_user_agent":"-","request_time":0.001}\n`;
    return "\n";
  }
  if (kind === 0) return "garbage line without any structure 404 404 404\n";
  if (kind === 1) return `${ip7} - - [${time}] "GET /truncated\n`;
  if (kind === 2) return `999.1.2.3 - - [${time}] "GET /x HTTP/1.1" 404 0 "-" "-"\n`;
  if (kind === 3) return `10.0.0.1 - - [not a time at all, but long enough] "GET /y HTTP/1.1" 404 0 "-" "-"\n`;
  return "\n";
}

interface ScannerEvent {
  ip: string;
  path: string;
}

/**
 * Writes the log to `path` and returns the ground truth. Scanners' bursts:
 * N 404s spread evenly over D seconds (first at t0, last at t0 + D). With
 * D < window the whole burst is inside one window, so the peak count is N;
 * with D = window the first leaves as the last arrives, so the peak is N - 1.
 */
export function generateNginxLog(path: string, options: GeneratorOptions = {}): GeneratedLog {
  const total = options.lines ?? 1_000_000;
  const random = prng(options.seed ?? 42);
  const duration = options.durationSeconds ?? 7200;
  const warning = options.warning ?? 20;
  const critical = options.critical ?? 50;
  const window = options.windowSeconds ?? 60;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const format = options.format ?? "combined";
  const line = format === "json" ? jsonLine : combinedLine;

  // Scanner bursts, planned first.
  const scannerEvents = new Map<number, ScannerEvent[]>();
  const expected: ExpectedAlert[] = [];
  const counts = [1, 5, warning - 1, warning, warning + 1, 35, critical - 1, critical, critical + 1, 80, 300];
  let scannerLines = 0;
  const scanners = 240;
  for (let s = 0; s < scanners; s++) {
    const ip = s % 4 === 3 ? `2001:db8:1:${((s * 7919) % 65536).toString(16)}::${(s + 1).toString(16)}` : `203.0.${(s >> 8) & 255}.${s & 255}`;
    // Two bursts for a third of the scanners, separated by more than two windows.
    const bursts = s % 3 === 0 ? 2 : 1;
    let t0 = 30 + Math.floor(random() * (duration / 2 - 3 * window));
    for (let b = 0; b < bursts; b++) {
      const exactWindow = s % 10 === 7; // spread over exactly one window
      const n = exactWindow ? (b === 0 ? warning : critical) : counts[(s + b) % counts.length]!;
      const spread = exactWindow ? window : Math.min(window - 1, Math.floor(random() * window));
      for (let i = 0; i < n; i++) {
        const second = n === 1 ? t0 : t0 + Math.floor((i * spread) / (n - 1));
        const list = scannerEvents.get(second) ?? [];
        list.push({ ip, path: pick(MISSING) });
        scannerEvents.set(second, list);
        scannerLines += 1;
      }
      const peak = exactWindow ? n - 1 : n;
      if (peak >= warning) {
        expected.push({ ip, severities: peak >= critical ? ["WARNING", "CRITICAL"] : ["WARNING"], firstSeen: START_MS + t0 * 1000 });
      }
      t0 += spread + 2 * window + 1 + Math.floor(random() * 600);
    }
  }

  const fd = openSync(path, "w");
  const out: string[] = [];
  let outChars = 0;
  const flush = () => {
    writeSync(fd, out.join(""));
    out.length = 0;
    outChars = 0;
  };
  const emit = (text: string) => {
    out.push(text);
    outChars += text.length;
    if (outChars > 1 << 20) flush();
  };

  // Normal clients never reach 10 404s in a window.
  const normal404 = new Map<string, number[]>();
  const normalIps = (i: number) => (i % 10 === 9 ? `2001:db8:ffff::${(i % 4096).toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const normalLinesTotal = total - scannerLines;
  if (normalLinesTotal < duration) throw new Error(`${total} lines cannot hold the ${scannerLines} scanner lines and normal traffic; ask for more`);
  let written = 0;
  let malformed = 0;
  let badAddress404 = 0;
  for (let second = 0; second < duration; second++) {
    const ms = START_MS + second * 1000;
    const time = timeLocal(ms);
    for (const e of scannerEvents.get(second) ?? []) {
      emit(line(e.ip, time, e.path, 404, 153, "Mozilla/5.0 zgrab/0.x"));
      written += 1;
    }
    const quota = Math.floor(((second + 1) * normalLinesTotal) / duration) - Math.floor((second * normalLinesTotal) / duration);
    for (let k = 0; k < quota; k++) {
      written += 1;
      const r = random();
      if (r < 0.0008) {
        malformed += 1;
        const kind = Math.floor(random() * 5);
        if (kind === 2) badAddress404 += 1;
        emit(malformedLine(format, kind, time, normalIps(7)));
        continue;
      }
      const ip = normalIps(Math.floor(random() * 30_000));
      const agent = pick(AGENTS);
      if (r < 0.001) {
        // Oversized: a 20 KB user agent on a 200 response.
        emit(line(ip, time, "/", 200, 512, "X".repeat(20_000)));
        continue;
      }
      if (r < 0.003) {
        // "404" everywhere but the status field.
        emit(line(ip, time, "/404.html", 200, 404, "bot/404 (+http://example.invalid/404)", "http://example.invalid/404"));
        continue;
      }
      let status = r < 0.86 ? 200 : r < 0.92 ? 304 : r < 0.95 ? 301 : r < 0.995 ? 404 : 500;
      if (status === 404) {
        const times = normal404.get(ip) ?? [];
        while (times.length > 0 && times[0]! <= second - window) times.shift();
        if (times.length >= 9) status = 200;
        else {
          times.push(second);
          normal404.set(ip, times);
        }
      }
      const target = status === 404 ? pick(MISSING) : pick(PATHS);
      emit(line(ip, time, target, status, status === 200 ? 1000 + Math.floor(random() * 50_000) : 0, agent, random() < 0.3 ? "https://www.example.com/" : "-"));
    }
  }
  flush();
  closeSync(fd);
  expected.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.firstSeen - b.firstSeen));
  return { lines: written, malformedLines: malformed, badAddress404Lines: badAddress404, expected };
}

// `tsx bench/nginx-log-gen.ts FILE [LINES] [SEED]` writes FILE and FILE.truth.json.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [file, lines, seed] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: tsx bench/nginx-log-gen.ts FILE [LINES] [SEED]\n");
    process.exitCode = 2;
  } else {
    const options: GeneratorOptions = {};
    if (lines) options.lines = Number(lines);
    if (seed) options.seed = Number(seed);
    const generated = generateNginxLog(file, options);
    writeFileSync(`${file}.truth.json`, `${JSON.stringify(generated, null, 1)}\n`);
    process.stdout.write(`${generated.lines} lines, ${generated.malformedLines} malformed, ${generated.expected.length} expected alerts → ${file}.truth.json\n`);
  }
}
