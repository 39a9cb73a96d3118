import { appendFileSync } from "node:fs";
import type { CpuReading, CpuSampler } from "../agent/detectors/cpu-sampler.js";

/**
 * The demo's scripted events: log lines written to the files the demo's
 * agent follows, and CPU readings under the demo's control. Addresses are
 * from the documentation ranges (RFC 5737), never real hosts.
 */

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** "Nov 29 05:10:00" in local time, as syslog writes auth.log. */
export function syslogTime(at: Date): string {
  return `${MONTHS[at.getMonth()]} ${String(at.getDate()).padStart(2, " ")} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

/** "29/Nov/2026:05:10:00 +0000", nginx's $time_local. */
export function nginxTime(at: Date): string {
  const offset = -at.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `${pad(at.getDate())}/${MONTHS[at.getMonth()]}/${at.getFullYear()}:${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())} ${zone}`;
}

export const DEMO_SSH = { user: "alice", ip: "203.0.113.7", port: 51234, pid: 4242 };
export const DEMO_SCANNER = "198.51.100.23";

export function writeSshLogin(authLog: string, at: Date = new Date()): void {
  const { user, ip, port, pid } = DEMO_SSH;
  appendFileSync(authLog, `${syslogTime(at)} demo-web sshd[${pid}]: Accepted publickey for ${user} from ${ip} port ${port} ssh2: ED25519 SHA256:3x4mpl3K3yF1ng3rpr1nt\n`);
}

const SCAN_PATHS = ["/wp-login.php", "/.env", "/admin/", "/phpmyadmin/", "/.git/config", "/backup.zip", "/xmlrpc.php", "/cgi-bin/test.cgi"];

/** `count` 404s from the scanner, plus a few ordinary requests from others. */
export function writeScan(accessLog: string, count: number, at: Date = new Date()): void {
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const path = SCAN_PATHS[i % SCAN_PATHS.length]!;
    lines.push(`${DEMO_SCANNER} - - [${nginxTime(at)}] "GET ${path}?n=${i} HTTP/1.1" 404 153 "-" "Mozilla/5.0 (compatible; scanner)"`);
    if (i % 10 === 0) lines.push(`192.0.2.44 - - [${nginxTime(at)}] "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0"`);
  }
  appendFileSync(accessLog, `${lines.join("\n")}\n`);
}

/** CPU readings the demo controls: idle until `busy()` is called, then 95 % with a miner on top. */
export function createDemoCpu(): { sampler: CpuSampler; busy(): void } {
  let busy = false;
  const sampler: CpuSampler = {
    async sample(): Promise<CpuReading> {
      if (!busy) return { percent: 7, top: [{ pid: 1, name: "systemd", cpuPercent: 0.3, startTicks: 1n, user: "root" }] };
      return {
        percent: 95,
        top: [
          { pid: 31337, name: "xmrig", cpuPercent: 182.5, startTicks: 4_200_000n, user: "www-data" },
          { pid: 812, name: "nginx", cpuPercent: 3.1, startTicks: 1_000n, user: "www-data" },
        ],
      };
    },
  };
  return { sampler, busy: () => void (busy = true) };
}
