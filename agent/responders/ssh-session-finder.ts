import { readFileSync } from "node:fs";
import { listPids, netnsInode, readProc, tcpConnectionsOf, type ProcInfo, type TcpConnection } from "../proc/proc-sockets.js";

/**
 * Finding sshd session processes through /proc.
 *
 * On Debian 12 (OpenSSH 9.2) a logged-in session is two processes, both
 * holding the connection's socket: the privileged monitor, titled
 * "sshd: USER [priv]" (its pid is the one sshd logs), and its
 * unprivileged child "sshd: USER@pts/N" or "sshd: USER@notty". Before
 * authentication the per-connection process is "sshd: USER [preauth]" or
 * "sshd: [accepted]"/"[net]". OpenSSH 9.8+ names them "sshd-session".
 * The listener ("sshd: /usr/sbin/sshd -D [listener] ...") holds only a
 * LISTEN socket and is never a session.
 */

const SSHD_COMMS = new Set(["sshd", "sshd-session"]);

function readComm(pid: number, procRoot = "/proc"): string {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

export interface SshSessionProcess {
  info: ProcInfo;
  /** The established connection the process holds. */
  connection: TcpConnection;
}

export interface ProcScope {
  /** /proc mount. Default: "/proc". */
  procRoot?: string;
  /**
   * Only processes in this network namespace (a namespace file such as
   * /proc/self/ns/net or /run/netns/NAME). Default: the agent's own
   * namespace; `null` = every namespace.
   */
  netnsPath?: string | null;
}

/** Whether the process is an sshd serving a connection (not the listener, not another program). */
export function isSshdSessionProcess(info: ProcInfo, connections: readonly TcpConnection[]): boolean {
  if (!SSHD_COMMS.has(info.comm)) return false;
  if (!/^sshd(-session)?: /.test(info.cmdline)) return false;
  if (info.cmdline.includes("[listener]")) return false;
  if (connections.some((c) => c.state === "LISTEN")) return false;
  return connections.some((c) => c.state === "ESTABLISHED");
}

function scopeFilter(scope: ProcScope): (pid: number) => boolean {
  const root = scope.procRoot ?? "/proc";
  if (scope.netnsPath === null) return () => true;
  const wanted = netnsInode(scope.netnsPath ?? `${root}/self/ns/net`);
  if (wanted === undefined) return () => false;
  return (pid) => netnsInode(`${root}/${pid}/ns/net`) === wanted;
}

/** The sshd session processes (monitors and their children) with an established connection matching `match`. */
export function findSshSessions(match: (connection: TcpConnection) => boolean, scope: ProcScope = {}): SshSessionProcess[] {
  const inScope = scopeFilter(scope);
  const out: SshSessionProcess[] = [];
  for (const pid of listPids(scope.procRoot)) {
    // The name first: one small read per process, the rest only for sshd.
    if (!SSHD_COMMS.has(readComm(pid, scope.procRoot))) continue;
    const info = readProc(pid, scope.procRoot);
    if (info === undefined || !SSHD_COMMS.has(info.comm) || !inScope(pid)) continue;
    const connections = tcpConnectionsOf(pid, scope.procRoot);
    if (!isSshdSessionProcess(info, connections)) continue;
    const connection = connections.find((c) => c.state === "ESTABLISHED" && match(c));
    if (connection !== undefined) out.push({ info, connection });
  }
  return out;
}

/** Groups session processes into sessions (one per connection), monitor first. */
export function groupSessions(processes: readonly SshSessionProcess[]): SshSessionProcess[][] {
  const byConnection = new Map<string, SshSessionProcess[]>();
  for (const p of processes) {
    const key = `${p.connection.inode}`;
    const list = byConnection.get(key) ?? [];
    list.push(p);
    byConnection.set(key, list);
  }
  return [...byConnection.values()].map((list) => {
    const pids = new Set(list.map((p) => p.info.pid));
    return [...list].sort((a, b) => Number(pids.has(a.info.ppid)) - Number(pids.has(b.info.ppid)));
  });
}

/** "sshd: alice [priv]" (pid 1234) for results. */
export function describeSession(session: readonly SshSessionProcess[]): string {
  const head = session[0];
  if (head === undefined) return "no session";
  const peer = head.connection.remoteIp.includes(":") ? `[${head.connection.remoteIp}]` : head.connection.remoteIp;
  return `${head.info.cmdline.trim()} (pid ${head.info.pid}) from ${peer}:${head.connection.remotePort}`;
}
