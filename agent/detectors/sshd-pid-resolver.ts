import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { isIP } from "node:net";

/**
 * Finds the sshd process that serves a client connection, for log lines
 * that carry no PID (sshd started with `-E FILE` or `-e` writes bare
 * messages). Looks at sshd processes only: the sockets in /proc/PID/fd,
 * matched against the connections in /proc/PID/net/tcp{,6} (seen from that
 * process's network namespace) whose remote end is ip:port. Of the matching
 * processes, the session's own sshd is the one whose parent does not match
 * (the per-connection sshd, not its privilege-separated children).
 */

const SSHD_NAMES = new Set(["sshd", "sshd-session"]);

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0").toUpperCase();
}

/** 16 bytes of an IPv6 address (IPv4 as ::ffff:a.b.c.d). */
function ipv6Bytes(ip: string): number[] {
  let text = ip;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tail = text.slice(lastColon + 1).split(".").map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes("::") ? (text.split("::") as [string, string]) : [text, undefined];
  const headGroups = head ? head.split(":") : [];
  const restGroups = rest ? rest.split(":") : [];
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - restGroups.length).fill("0"), ...restGroups];
  const bytes = groups.flatMap((g) => {
    const v = parseInt(g || "0", 16);
    return [v >> 8, v & 255];
  });
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The rem_address column of /proc/net/tcp (IPv4) and /proc/net/tcp6 for ip:port. */
export function procNetAddresses(ip: string, port: number): { tcp?: string; tcp6: string } {
  const portHex = port.toString(16).padStart(4, "0").toUpperCase();
  const v6 = isIP(ip) === 4 ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...ip.split(".").map(Number)] : ipv6Bytes(ip);
  let tcp6 = "";
  for (let word = 0; word < 4; word++) for (let b = 3; b >= 0; b--) tcp6 += hex2(v6[word * 4 + b]!);
  const out: { tcp?: string; tcp6: string } = { tcp6: `${tcp6}:${portHex}` };
  if (isIP(ip) === 4) out.tcp = `${ip.split(".").map(Number).reverse().map(hex2).join("")}:${portHex}`;
  return out;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function socketInodes(table: string | undefined, remote: string | undefined): Set<string> {
  const inodes = new Set<string>();
  if (!table || !remote) return inodes;
  for (const line of table.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[2] === remote && cols[9]) inodes.add(cols[9]);
  }
  return inodes;
}

/** The PID of the sshd serving the connection from ip:port, or undefined. */
export function resolveSshdPid(ip: string, port: number, procRoot = "/proc"): number | undefined {
  if (isIP(ip) === 0) return undefined;
  const remote = procNetAddresses(ip, port);
  const matches = new Map<number, number>(); // pid → ppid
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    const comm = read(`${procRoot}/${pid}/comm`)?.trim();
    if (!comm || !SSHD_NAMES.has(comm)) continue;
    const inodes = new Set([...socketInodes(read(`${procRoot}/${pid}/net/tcp`), remote.tcp), ...socketInodes(read(`${procRoot}/${pid}/net/tcp6`), remote.tcp6)]);
    if (inodes.size === 0) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        const target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
        return target.startsWith("socket:[") && inodes.has(target.slice(8, -1));
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    const stat = read(`${procRoot}/${pid}/stat`);
    const ppid = stat ? Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) : 0;
    matches.set(Number(pid), ppid);
  }
  for (const [pid, ppid] of matches) if (!matches.has(ppid)) return pid;
  return undefined;
}
