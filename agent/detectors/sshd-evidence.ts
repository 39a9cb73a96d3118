import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { listPids, tcpConnectionsOf } from "../proc/proc-sockets.js";
import { normalizeIp } from "../responders/ip-policy.js";
import type { SshdEvidence } from "./ssh-record-processor.js";
import type { SshPeer } from "./ssh-messages.js";

/**
 * Evidence from /proc for log lines that may have been forged inside
 * another message (ssh-record-processor.ts): which TCP peers sshd
 * processes (comm sshd, sshd-session, sshd-auth) hold, in whatever network
 * namespace they run. A connection seen once is remembered for
 * `rememberMs`, so lines read just after their connection closed still
 * count; a line naming a connection not seen triggers a fresh scan, at
 * most one per `minScanGapMs` (a flood of forged lines cannot make the
 * agent scan /proc without pause: lines then wait for the next scan or are
 * left out — a miss, never an accusation). Detectors that read such lines
 * also sample every few hundred ms (`sample`), so a connection that closes
 * before its lines are read is still known if it lived that long (with PAM,
 * Debian's default, every failed password holds it about 2 s).
 */

const SSHD_NAMES = new Set(["sshd", "sshd-session", "sshd-auth"]);

export interface SshdEvidenceOptions {
  now(): number;
  procRoot?: string;
  /** How long a seen connection stays evidence. Default: 2 min. */
  rememberMs?: number;
  /** Least time between two scans. Default: 20 ms. */
  minScanGapMs?: number;
}

function comm(pid: number, procRoot: string): string | undefined {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function peerKey(ip: string, port: number): string {
  return `${normalizeIp(ip) ?? ip} ${port}`;
}

export function createSshdEvidence(options: SshdEvidenceOptions): SshdEvidence {
  const procRoot = options.procRoot ?? "/proc";
  const rememberMs = options.rememberMs ?? 120_000;
  const minScanGapMs = options.minScanGapMs ?? 20;
  /** "ip port" → when last seen. */
  const seen = new Map<string, number>();
  /** pid → its connection's peer, as of the last scan. */
  let pids = new Map<number, SshPeer>();
  let lastScan = Number.NEGATIVE_INFINITY;
  let used = false;
  /** PIDs that are not sshd, and when that was read: a scan reads the comm of new PIDs only. */
  let others = new Map<number, number>();

  function scan(now: number): void {
    lastScan = now;
    const next = new Map<number, SshPeer>();
    const nextOthers = new Map<number, number>();
    for (const pid of listPids(procRoot)) {
      const otherSince = others.get(pid);
      // A PID is reused rarely; one that stays "other" is read again after 10 s.
      if (otherSince !== undefined && now - otherSince < 10_000) {
        nextOthers.set(pid, otherSince);
        continue;
      }
      const name = comm(pid, procRoot);
      if (name === undefined || !SSHD_NAMES.has(name)) {
        nextOthers.set(pid, now);
        continue;
      }
      for (const c of tcpConnectionsOf(pid, procRoot)) {
        if (c.state === "LISTEN" || c.remotePort === 0) continue;
        const host = normalizeIp(c.remoteIp) ?? c.remoteIp;
        const key = peerKey(host, c.remotePort);
        seen.delete(key);
        seen.set(key, now);
        next.set(pid, { host, port: c.remotePort });
      }
    }
    pids = next;
    others = nextOthers;
    // Oldest first: drop what is too old.
    for (const [key, at] of seen) {
      if (now - at <= rememberMs) break;
      seen.delete(key);
    }
  }

  function fresh(now: number): boolean {
    if (now - lastScan < minScanGapMs) return false;
    scan(now);
    return true;
  }

  return {
    holds(ip, port) {
      used = true;
      if (isIP(ip) === 0) return false;
      const key = peerKey(ip, port);
      const now = options.now();
      const at = seen.get(key);
      if (at !== undefined && now - at <= rememberMs) return true;
      return fresh(now) && seen.has(key);
    },
    peerOf(pid) {
      used = true;
      const known = pids.get(pid);
      if (known !== undefined) return known;
      return fresh(options.now()) ? pids.get(pid) : undefined;
    },
    sample(now) {
      // Scan only for detectors that read unverified lines; two detectors sampling share a scan.
      if (used && now - lastScan >= 200) scan(now);
    },
  };
}
