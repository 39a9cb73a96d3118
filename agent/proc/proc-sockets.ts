import { readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { normalizeIp } from "../responders/ip-policy.js";

/**
 * TCP connections of processes, read from /proc without running programs:
 * the SSH responders and the detectors' sshd PID lookup share them.
 *
 * /proc/PID/net/tcp and tcp6 list the sockets of the network namespace
 * PID lives in, so reading them through the process (not /proc/net) finds
 * connections of processes in other namespaces too, e.g. an sshd started
 * with `ip netns exec`. A process owns a connection when one of its
 * /proc/PID/fd entries is "socket:[INODE]" with that connection's inode.
 */

export type TcpState = "ESTABLISHED" | "LISTEN" | "OTHER";

export interface TcpConnection {
  localIp: string;
  localPort: number;
  /** The peer; "0.0.0.0" / "::" and port 0 for a listener. */
  remoteIp: string;
  remotePort: number;
  state: TcpState;
  inode: string;
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Field 3 of /proc/PID/stat: "R", "S", "Z" (zombie)... */
  state: string;
  /** /proc/PID/comm, e.g. "sshd". */
  comm: string;
  /** /proc/PID/cmdline with NULs as spaces, e.g. "sshd: alice [priv]". */
  cmdline: string;
  /** Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
  startTicks: bigint;
  uid: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Reads /proc/PID's identity, or undefined when the process does not exist (any more). */
export function readProc(pid: number, procRoot = "/proc"): ProcInfo | undefined {
  const stat = readText(`${procRoot}/${pid}/stat`);
  if (stat === undefined) return undefined;
  // comm is in parentheses and may itself contain ") "; fields follow the last ")".
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  // fields[0] is field 3 (state): field N is fields[N - 3].
  const ppid = Number(fields[1]);
  const startTicks = BigInt(fields[19] ?? "0");
  const comm = (readText(`${procRoot}/${pid}/comm`) ?? stat.slice(stat.indexOf("(") + 1, close)).trim();
  const cmdline = (readText(`${procRoot}/${pid}/cmdline`) ?? "").replace(/\0+$/, "").replace(/\0/g, " ");
  const status = readText(`${procRoot}/${pid}/status`) ?? "";
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
  return { pid, ppid, state: fields[0] ?? "", comm, cmdline, startTicks, uid };
}

/** All pids currently in /proc. */
export function listPids(procRoot = "/proc"): number[] {
  try {
    return readdirSync(procRoot).filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}

/** Inodes of the sockets PID holds open. */
export function socketInodes(pid: number, procRoot = "/proc"): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`${procRoot}/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Decodes "0100007F:0016" (tcp) or a 32-hex-digit address (tcp6), both in host (little-endian) word order. */
export function decodeProcAddress(text: string): { ip: string; port: number } {
  const [hex = "", portHex = "0"] = text.split(":");
  const port = parseInt(portHex, 16);
  const bytes: number[] = [];
  for (let word = 0; word < hex.length / 8; word += 1) {
    const w = hex.slice(word * 8, word * 8 + 8);
    for (let b = 3; b >= 0; b -= 1) bytes.push(parseInt(w.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.length === 4) return { ip: bytes.join("."), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  const ip = normalizeIp(groups.join(":")) ?? groups.join(":");
  return { ip, port };
}

/** Parses the text of /proc/.../net/tcp or tcp6. */
export function parseTcpTable(text: string): TcpConnection[] {
  const out: TcpConnection[] = [];
  for (const line of text.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = decodeProcAddress(cols[1] ?? "");
    const remote = decodeProcAddress(cols[2] ?? "");
    const st = cols[3];
    out.push({
      localIp: local.ip,
      localPort: local.port,
      remoteIp: remote.ip,
      remotePort: remote.port,
      state: st === "01" ? "ESTABLISHED" : st === "0A" ? "LISTEN" : "OTHER",
      inode: cols[9] ?? "",
    });
  }
  return out;
}

/** The TCP connections PID holds, seen from its own network namespace. */
export function tcpConnectionsOf(pid: number, procRoot = "/proc"): TcpConnection[] {
  const inodes = socketInodes(pid, procRoot);
  if (inodes.size === 0) return [];
  const table = [
    ...parseTcpTable(readText(`${procRoot}/${pid}/net/tcp`) ?? ""),
    ...parseTcpTable(readText(`${procRoot}/${pid}/net/tcp6`) ?? ""),
  ];
  return table.filter((conn) => conn.inode !== "0" && inodes.has(conn.inode));
}

/** Inode of the network namespace PID lives in (or of a namespace file such as /run/netns/NAME). */
export function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** True when `a` and `b` are the same address (IPv4-mapped IPv6 equals its IPv4). */
export function sameIp(a: string, b: string): boolean {
  if (isIP(a) === 0 || isIP(b) === 0) return false;
  return normalizeIp(a) === normalizeIp(b);
}
