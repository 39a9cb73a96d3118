import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";

/**
 * Network namespaces for system tests (root only).
 *
 * Every namespace is named "sa" + a short random id + a role suffix, so
 * parallel runs never clash. A lab is one "server" namespace holding a
 * bridge (br0) and one veth port per client; each client namespace has the
 * other end as eth0. All interfaces and addresses live inside the lab's
 * namespaces: nothing is added to the host's network, so the private ranges
 * used here (10.231.X.0/24 and fd00:5ec:X::/64) never reach anything else.
 *
 * Cleanup kills every process left in a namespace (`ip netns pids`) and
 * deletes it; namespaces still present when the process exits are removed
 * by an exit hook, so a failed test does not leave them behind.
 */

/** Result of a command run to completion. Never rejects for a non-zero exit. */
export interface ExecResult {
  /** Exit code; -1 when killed by a signal or the command could not start. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Text written to the command's stdin. */
  input?: string;
  /** Kill the command after this long. Default: 15 s. */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** One host of a lab: a namespace and its addresses. */
export interface LabHost {
  /** The namespace name, e.g. "sa1f2e3d-srv". */
  ns: string;
  /** Its IPv4 address in the lab network. */
  ipv4: string;
  /** Its IPv6 address in the lab network. */
  ipv6: string;
}

export interface Lab {
  /** The random id in every namespace name of this lab. */
  id: string;
  /** The server: holds the bridge, runs nginx/sshd/nftables in tests. */
  server: LabHost;
  /** The clients, each reaching the server over IPv4 and IPv6. */
  clients: LabHost[];
  /** The lab's IPv4 network, e.g. "10.231.17.0/24". */
  network4: string;
  /** The lab's IPv6 network, e.g. "fd00:5ec:11::/64". */
  network6: string;
  /** Runs a command inside a host's namespace. */
  exec(host: LabHost | string, file: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Starts a command inside a host's namespace. */
  spawn(host: LabHost | string, file: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Kills everything left in the lab's namespaces and deletes them. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface CreateLabOptions {
  /** Number of client namespaces. Default: 1. */
  clients?: number;
}

const live = new Set<string>();
let exitHookInstalled = false;

/** A fresh random id, e.g. "sa3f9a1c". */
export function newNetnsId(): string {
  return `sa${randomBytes(3).toString("hex")}`;
}

/** Runs `file args` (no shell) and collects its output. */
export function run(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      [...args],
      {
        timeout: options.timeoutMs ?? 15_000,
        maxBuffer: 64 * 1024 * 1024,
        env: options.env === undefined ? process.env : { ...process.env, ...options.env },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : -1;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err !== null && code === -1 ? err.message : "") });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Runs a command; rejects with its stderr when it exits non-zero. */
export async function runOk(file: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Runs a command inside namespace `ns` (`ip netns exec NS file ...args`). */
export function nsExec(ns: string, file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return run("ip", ["netns", "exec", ns, file, ...args], options);
}

/**
 * Starts a command inside namespace `ns`. `ip netns exec` execs the command
 * in place, so the child's pid is the command's pid.
 */
export function nsSpawn(ns: string, file: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn("ip", ["netns", "exec", ns, file, ...args], { stdio: ["ignore", "pipe", "pipe"], ...options });
}

/** A daemon started by startNsDaemon. */
export interface NsDaemon {
  process: ChildProcess;
  /** SIGTERM (SIGKILL after 3 s), then removes `dir`. */
  stop(): Promise<void>;
}

export interface NsDaemonOptions {
  /** The daemon's name in errors, e.g. "nginx". */
  name: string;
  ns: string;
  file: string;
  args: readonly string[];
  /** Its temporary directory, removed by stop() (and when the start fails). */
  dir: string;
  /** Resolves true once the daemon serves. */
  ready(): Promise<boolean>;
  /** Extra detail for "exited at start", e.g. its log. */
  exitDetail?(): string;
  startTimeoutMs?: number;
}

/**
 * Starts a foreground daemon inside a namespace and waits (bounded) until
 * `ready`; its stderr goes into the error when it exits or never gets ready.
 */
export async function startNsDaemon(options: NsDaemonOptions): Promise<NsDaemon> {
  const child = nsSpawn(options.ns, options.file, options.args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  const stop = async (): Promise<void> => {
    if (!exited && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(options.dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`${options.name} exited at start: ${stderr.trim()}${options.exitDetail ? ` ${options.exitDetail()}` : ""}`);
    }
    if (await options.ready()) return { process: child, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${options.name} did not get ready within the start timeout: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Creates an empty namespace with loopback up; removed by removeNamespace or at exit. */
export async function createNamespace(name: string): Promise<string> {
  installExitHook();
  await runOk("ip", ["netns", "add", name]);
  live.add(name);
  await runOk("ip", ["-n", name, "link", "set", "lo", "up"]);
  return name;
}

/** Pids of the processes inside namespace `ns`. */
export async function namespacePids(ns: string): Promise<number[]> {
  const result = await run("ip", ["netns", "pids", ns]);
  if (result.code !== 0) return [];
  return result.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

/** Kills every process left in `ns` (SIGKILL), then deletes the namespace. */
export async function removeNamespace(ns: string): Promise<void> {
  for (let round = 0; round < 20; round += 1) {
    const pids = await namespacePids(ns);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await run("ip", ["netns", "del", ns]);
  live.delete(ns);
}

/**
 * A server namespace and `clients` client namespaces on one bridge, each
 * with an IPv4 and an IPv6 address (no duplicate address detection, so
 * IPv6 is usable at once). Server is .1 / ::1, client i is .(10+i) / ::(10+i)
 * as hex digits of the decimal number, e.g. client 0 → 10.231.X.10, fd00:5ec:X::10.
 */
export async function createLab(options: CreateLabOptions = {}): Promise<Lab> {
  const count = options.clients ?? 1;
  if (!Number.isInteger(count) || count < 0 || count > 50) throw new Error(`clients must be 0..50, got ${count}`);
  const id = newNetnsId();
  // 1..255: with 0 the IPv6 network "fd00:5ec:0::" would not be in the canonical form (fd00:5ec::) that `ip` prints.
  const octet = 1 + ((randomBytes(1)[0] ?? 0) % 255);
  const net4 = `10.231.${octet}`;
  const net6 = `fd00:5ec:${octet.toString(16)}`;
  const server: LabHost = { ns: `${id}-srv`, ipv4: `${net4}.1`, ipv6: `${net6}::1` };
  const clients: LabHost[] = [];
  for (let i = 0; i < count; i += 1) {
    clients.push({ ns: `${id}-c${i}`, ipv4: `${net4}.${10 + i}`, ipv6: `${net6}::${10 + i}` });
  }
  const created: string[] = [];
  const cleanup = async (): Promise<void> => {
    for (const ns of created.splice(0).reverse()) await removeNamespace(ns);
  };
  try {
    created.push(await createNamespace(server.ns));
    const s = server.ns;
    await runOk("ip", ["-n", s, "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0"]);
    await runOk("ip", ["-n", s, "link", "set", "br0", "up"]);
    await runOk("ip", ["-n", s, "addr", "add", `${server.ipv4}/24`, "dev", "br0"]);
    await runOk("ip", ["-n", s, "addr", "add", `${server.ipv6}/64`, "dev", "br0", "nodad"]);
    for (const [i, client] of clients.entries()) {
      created.push(await createNamespace(client.ns));
      const port = `c${i}`;
      await runOk("ip", ["-n", s, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", client.ns]);
      await runOk("ip", ["-n", s, "link", "set", port, "master", "br0"]);
      await runOk("ip", ["-n", s, "link", "set", port, "up"]);
      await runOk("ip", ["-n", client.ns, "link", "set", "eth0", "up"]);
      await runOk("ip", ["-n", client.ns, "addr", "add", `${client.ipv4}/24`, "dev", "eth0"]);
      await runOk("ip", ["-n", client.ns, "addr", "add", `${client.ipv6}/64`, "dev", "eth0", "nodad"]);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  const nsOf = (host: LabHost | string): string => (typeof host === "string" ? host : host.ns);
  return {
    id,
    server,
    clients,
    network4: `${net4}.0/24`,
    network6: `${net6}::/64`,
    exec: (host, file, args, opts) => nsExec(nsOf(host), file, args, opts),
    spawn: (host, file, args, opts) => nsSpawn(nsOf(host), file, args, opts),
    cleanup,
  };
}

/**
 * Opens a TCP connection from inside `ns` to host:port and reports whether
 * it was established within `timeoutMs` (bash's /dev/tcp, run with an
 * argument vector: host and port are passed as positional arguments, never
 * spliced into the script).
 */
export async function tcpConnects(ns: string, host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const script = 'exec 3<>"/dev/tcp/$1/$2"';
  const result = await nsExec(ns, "timeout", [seconds, "bash", "-c", script, "tcp-probe", host, String(port)], {
    timeoutMs: timeoutMs + 3000,
  });
  return result.code === 0;
}

/** HTTP status code of GET url from inside `ns`, or 0 when no answer came within `timeoutMs`. */
export async function httpStatus(ns: string, url: string, timeoutMs = 1500): Promise<number> {
  const result = await nsExec(
    ns,
    "curl",
    ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", String(timeoutMs / 1000), "-g", url],
    { timeoutMs: timeoutMs + 3000 },
  );
  const code = Number(result.stdout.trim());
  return Number.isInteger(code) ? code : 0;
}

/** URL of a host:port, bracketing IPv6 addresses. */
export function hostUrl(address: string, port = 80, path = "/"): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return `http://${host}:${port}${path}`;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const ns of live) {
      try {
        const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split(/\s+/).filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // already gone
          }
        }
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // best effort at exit
      }
    }
  });
}
