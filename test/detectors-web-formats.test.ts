import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parseConfig } from "../common/config.js";
import { AlertState, Severity, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { detectorsConfigSchema } from "../agent/detectors/config.js";
import { replayFile, type ReplayStats } from "../agent/detectors/replay.js";

/**
 * The same traffic written in every supported web log format gives the same
 * offenders in `secarc replay`; forged text inside values never yields an
 * address; X-Forwarded-For counts only from trusted proxies.
 */

interface Request {
  ip: string;
  /** Unix ms. */
  at: number;
  path: string;
  status: number;
  agent: string;
  forwardedFor?: string;
}

const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");
/** "01/Dec/2026:10:00:00 +0100" (written in +01:00, as a server in Madrid would). */
function timeLocal(ms: number): string {
  const d = new Date(ms + 3_600_000);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0100`;
}
/** "2026-12-01T10:00:00+01:00". */
function timeIso(ms: number): string {
  return `${new Date(ms + 3_600_000).toISOString().slice(0, 19)}+01:00`;
}
/** nginx's escape=default: `"`, `\` and bytes outside 0x20-0x7e as \xHH. */
const hexEscape = (text: string) => text.replace(/["\\\x00-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
/** Apache's: `"` and `\` with a backslash, control bytes as \xhh. */
const apacheEscape = (text: string) => text.replace(/["\\]/g, (c) => `\\${c}`).replace(/[\x00-\x1f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
/** JSON string contents (nginx escape=json, Caddy). */
const json = (text: string) => JSON.stringify(text).slice(1, -1);

interface Format {
  name: string;
  config: Record<string, unknown>;
  write(r: Request): string;
}

const NGINX_TEXT = `'$remote_addr - $remote_user [$time_iso8601] "$request" $status $body_bytes_sent '
  '"$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" host=$host xff="$http_x_forwarded_for"'`;
const NGINX_JSON = `escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request",'
  '"status":$status,"bytes":$body_bytes_sent,"ua":"$http_user_agent","request_time":$request_time,"xff":"$http_x_forwarded_for"}'`;

const FORMATS: Format[] = [
  {
    name: "combined",
    config: {},
    write: (r) => `${r.ip} - - [${timeLocal(r.at)}] "GET ${hexEscape(r.path)} HTTP/1.1" ${r.status} 153 "-" "${hexEscape(r.agent)}"`,
  },
  {
    name: "apache_vhost_combined",
    config: { format: "apache_vhost_combined" },
    write: (r) => `www.example.com:443 ${r.ip} - - [${timeLocal(r.at)}] "GET ${apacheEscape(r.path)} HTTP/1.1" ${r.status} 153 "-" "${apacheEscape(r.agent)}"`,
  },
  {
    name: "caddy_json",
    config: { format: "caddy_json" },
    write: (r) =>
      `{"level":"info","ts":${r.at / 1000 + 0.123},"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"${r.ip}","remote_port":"51234","proto":"HTTP/1.1","method":"GET","host":"www.example.com","uri":"${json(r.path)}","headers":{"User-Agent":["${json(r.agent)}"]}},"bytes_read":0,"duration":0.0012,"size":153,"status":${r.status},"resp_headers":{"Server":["Caddy"]}}`,
  },
  {
    name: "json (configured fields)",
    config: { format: "json", jsonFields: { peer: "client.addr", time: "when", status: "code", path: "req.uri" } },
    write: (r) => `{"when":"${timeIso(r.at)}","client":{"addr":"${r.ip}"},"req":{"uri":"${json(r.path)}","ua":"${json(r.agent)}"},"code":"${r.status}"}`,
  },
  {
    name: "nginx log_format with extra fields and $time_iso8601",
    config: { format: NGINX_TEXT },
    write: (r) =>
      `${r.ip} - - [${timeIso(r.at)}] "GET ${hexEscape(r.path)} HTTP/1.1" ${r.status} 153 "-" "${hexEscape(r.agent)}" rt=0.004 uct="0.001" host=www.example.com xff="${r.forwardedFor ?? "-"}"`,
  },
  {
    name: "nginx escape=json log_format",
    config: { format: NGINX_JSON },
    write: (r) =>
      `{"time":"${timeIso(r.at)}","remote_addr":"${r.ip}","request":"GET ${json(r.path)} HTTP/1.1","status":${r.status},"bytes":153,"ua":"${json(r.agent)}","request_time":0.004,"xff":"${json(r.forwardedFor ?? "")}"}`,
  },
];

/** A scan: two offenders (warning; critical), clients under the threshold, and forged values. */
function scanTraffic(): Request[] {
  const out: Request[] = [];
  for (let i = 0; i < 25; i++) out.push({ ip: "203.0.113.10", at: T0 + i * 1000, path: `/wp-login.php?try=${i}`, status: 404, agent: "zgrab/0.x" });
  for (let i = 0; i < 60; i++) out.push({ ip: "2001:db8::bad", at: T0 + 200_000 + i * 500, path: `/.env.${i}`, status: 404, agent: "curl/8" });
  for (let i = 0; i < 300; i++) out.push({ ip: `198.51.100.${i % 30}`, at: T0 + i * 400, path: i % 17 === 0 ? "/missing" : "/", status: i % 17 === 0 ? 404 : 200, agent: "Mozilla/5.0" });
  // Forged lines inside attacker-chosen values (path, user agent): quotes, a newline, another address, a 404.
  for (let i = 0; i < 30; i++) {
    const forged = `x" 404 153 "-" "-"\n6.6.6.6 - - [${timeLocal(T0 + i * 1000)}] "GET /f HTTP/1.1" 404 1 "-" "-`;
    const forgedJson = `x","remote_addr":"6.6.6.6","status":404,"request":{"remote_ip":"6.6.6.6"},"client":{"addr":"6.6.6.6"},"code":"404`;
    out.push({ ip: "192.0.2.50", at: T0 + 100_000 + i * 1000, path: `/ok?${forgedJson}`, status: 200, agent: forged });
  }
  return out.sort((a, b) => a.at - b.at);
}

function replay(dir: string, format: Format, requests: Request[], extra: Record<string, unknown> = {}, lines: string[] = []) {
  const file = join(dir, `${format.name.replace(/\W+/g, "-")}.log`);
  writeFileSync(file, `${[...requests.map(format.write), ...lines].join("\n")}\n`);
  const config = parseConfig(detectorsConfigSchema, { nginx404: { ...format.config, ...extra } }, "test");
  const alerts: Alert[] = [];
  const stats: ReplayStats = replayFile({ detector: "nginx-404", path: file, config, onAlert: (a) => alerts.push(a) });
  return { alerts, stats, file };
}

/** Offenders as "ip: WARNING>CRITICAL". */
function offenders(alerts: Alert[]): string[] {
  const byId = new Map<string, { ip: string; severities: string[] }>();
  for (const a of alerts) {
    if (a.subject.case !== "httpErrors") continue;
    const entry = byId.get(a.id) ?? { ip: a.subject.value.clientIp, severities: [] };
    if (a.state === AlertState.OPEN) entry.severities.push(Severity[a.severity]);
    byId.set(a.id, entry);
  }
  return [...byId.values()].map((e) => `${e.ip}: ${e.severities.join(">")}`).sort();
}

describe("web log formats: the same scan in every format", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-web-formats-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const format of FORMATS) {
    it(`${format.name}: the same offenders, no forged address, every line parsed`, () => {
      const requests = scanTraffic();
      const { alerts, stats, file } = replay(dir, format, requests);
      expect(offenders(alerts)).to.deep.equal(["2001:db8::bad: WARNING>CRITICAL", "203.0.113.10: WARNING"]);
      expect(stats.lines).to.equal(requests.length);
      expect(stats.malformed, "no line of the format is malformed").to.equal(0);
      const subjects = alerts.map((a) => (a.subject.case === "httpErrors" ? a.subject.value : undefined));
      expect(subjects.every((s) => s?.logFile === file), "alerts name their log file").to.equal(true);
      expect(subjects.flatMap((s) => s?.recentPaths ?? [])).to.include("/.env.59");
    });
  }

  it("a malformed address field is counted, never a block target", () => {
    for (const format of FORMATS) {
      const bad = Array.from({ length: 30 }, (_, i) => format.write({ ip: "999.1.2.3", at: T0 + i * 100, path: "/x", status: 404, agent: "a" }));
      const host = Array.from({ length: 30 }, (_, i) => format.write({ ip: "evil.example", at: T0 + i * 100, path: "/x", status: 404, agent: "a" }));
      const { alerts, stats } = replay(dir, format, [], {}, [...bad, ...host, "garbage 404 404", `{"status":404}`]);
      expect(alerts, format.name).to.have.length(0);
      expect(stats.malformed, format.name).to.equal(62);
    }
  });

  it("X-Forwarded-For: ignored from an untrusted peer; behind a trusted proxy the right-most untrusted address", () => {
    for (const format of FORMATS.filter((f) => f.name.startsWith("nginx"))) {
      const requests: Request[] = [];
      for (let i = 0; i < 25; i++) {
        // Through the trusted proxy 10.0.0.5: the client claims 6.6.6.6, the proxy saw 203.0.113.77.
        requests.push({ ip: "10.0.0.5", at: T0 + i * 1000, path: "/a", status: 404, agent: "a", forwardedFor: "6.6.6.6, 203.0.113.77, 10.0.0.9" });
        // Straight from the internet with a forged header: the peer counts.
        requests.push({ ip: "198.51.100.200", at: T0 + i * 1000, path: "/b", status: 404, agent: "a", forwardedFor: "192.0.2.1" });
      }
      const trusted = replay(dir, format, requests, { trustedProxies: ["10.0.0.0/8"] });
      expect(offenders(trusted.alerts), format.name).to.deep.equal(["198.51.100.200: WARNING", "203.0.113.77: WARNING"]);
      const untrusted = replay(dir, format, requests);
      expect(offenders(untrusted.alerts), format.name).to.deep.equal(["10.0.0.5: WARNING", "198.51.100.200: WARNING"]);
      const broken = replay(dir, format, requests.map((r) => (r.ip === "10.0.0.5" ? { ...r, forwardedFor: "203.0.113.77, not-an-ip" } : r)), { trustedProxies: ["10.0.0.0/8"] });
      expect(offenders(broken.alerts), format.name).to.deep.equal(["198.51.100.200: WARNING"]);
      expect(broken.stats.malformed, format.name).to.equal(25);
    }
  });
});
