import { chmodSync, mkdirSync, mkdtempSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { listPids, readProc, sameIp, tcpConnectionsOf } from "../../agent/proc/proc-sockets.js";
import { eventually } from "./agent-process.js";
import { nsExec, nsSpawn, run, runOk, startNsDaemon, tcpConnects, type ExecResult } from "./netns.js";

/**
 * A real OpenSSH server (/usr/sbin/sshd, Debian 12: OpenSSH 9.2p1) inside a
 * network namespace, with a generated sshd_config, host key and client key
 * in a temporary directory.
 *
 * The test user ("secarc-test") is created with useradd when absent. Its
 * password field is set to "*": not locked (sshd with `UsePAM no` refuses
 * every login of an account whose password starts with "!"), but no
 * password matches, so password attempts always fail ("Failed password")
 * and public-key logins with `clientKey` succeed.
 *
 * sshd runs in the foreground (-D) with `-E authLog`, LogLevel INFO. With -E
 * (checked on OpenSSH 9.2p1) sshd writes bare messages: no timestamp, no
 * host, no "sshd[PID]:" tag, e.g.
 *
 *   Server listening on 0.0.0.0 port 22.
 *   Accepted publickey for secarc-test from 10.231.7.10 port 40312 ssh2: ED25519 SHA256:...
 *   Failed password for secarc-test from 10.231.7.10 port 40320 ssh2
 *   Invalid user nobody-here from 10.231.7.10 port 40330
 *   Connection closed by authenticating user secarc-test 10.231.7.10 port 40320 [preauth]
 *
 * The session's sshd pid is therefore found through /proc (sessionPid):
 * the per-connection sshd is a child of the listener whose socket's peer is
 * the client's address and port. Its title is "sshd: secarc-test [priv]"
 * (the privileged monitor); its unprivileged child is
 * "sshd: secarc-test@notty" (or "@pts/N" with a terminal). Both hold the
 * connection's socket. The listener's title is
 * "sshd: /usr/sbin/sshd -D -E ... [listener] 0 of 10-100 startups".
 */
export interface SshdServer {
  dir: string;
  /** The log written by sshd -E (format above). */
  authLog: string;
  /** The port sshd listens on (IPv4 and IPv6). */
  port: number;
  /** The user that may log in with clientKey. */
  user: string;
  /** Private key (ed25519) authorised for `user`. */
  clientKey: string;
  /** The listener (sshd -D) process, as spawned in the namespace. */
  process: ChildProcess;
  /** The listener's pid. */
  pid: number;
  /** Stops sshd (listener and sessions it started) and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** Port. Default: 22. */
  port?: number;
  /** Test user name. Default: "secarc-test". */
  user?: string;
  /** Give up waiting for the listener after this long. Default: 10 s. */
  startTimeoutMs?: number;
  /**
   * sshd_config keywords set over the defaults below (e.g. { UsePAM: "yes",
   * MaxAuthTries: "2", DenyGroups: "secarc-denied" }); a keyword given
   * here replaces the default line.
   */
  settings?: Record<string, string>;
  /**
   * Log through syslog(3) to /dev/log (no `-E`), as sshd does under
   * systemd: `authLog` is then never written. Default: false.
   */
  syslog?: boolean;
  /** A cgroup's `cgroup.procs`: the listener joins it before it execs sshd (journald names the unit from it). */
  cgroupProcs?: string;
}

export const SSHD_BIN = "/usr/sbin/sshd";
export const TEST_USER = "secarc-test";

/** Creates the test user if absent and makes sure its account is not locked. */
export async function ensureTestUser(user = TEST_USER): Promise<void> {
  if ((await run("id", ["-u", user])).code !== 0) {
    const added = await run("useradd", ["--create-home", "--shell", "/bin/bash", user]);
    // A concurrent run may have created it meanwhile.
    if (added.code !== 0 && (await run("id", ["-u", user])).code !== 0) {
      throw new Error(`useradd ${user} failed: ${added.stderr.trim()}`);
    }
  }
  const shadow = readFileSync("/etc/shadow", "utf8").split("\n").find((line) => line.startsWith(`${user}:`));
  const hash = shadow?.split(":")[1] ?? "";
  if (hash.startsWith("!") || hash === "") await runOk("usermod", ["-p", "*", user]);
}

/** Starts sshd in namespace `ns` and waits until it accepts connections. */
export async function startSshd(ns: string, options: StartSshdOptions = {}): Promise<SshdServer> {
  const port = options.port ?? 22;
  const user = options.user ?? TEST_USER;
  await ensureTestUser(user);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "secarc-sshd-"));
  // sshd reads authorized_keys as the user: the directory must be traversable.
  chmodSync(dir, 0o755);
  const hostKey = join(dir, "host_ed25519_key");
  const clientKey = join(dir, "client_ed25519_key");
  await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "secarc-test-host", "-f", hostKey]);
  await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "secarc-test-client", "-f", clientKey]);
  const authorizedKeys = join(dir, "authorized_keys");
  writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`));
  chmodSync(authorizedKeys, 0o644);
  const authLog = join(dir, "auth.log");
  const config = join(dir, "sshd_config");
  const settings: Record<string, string> = {
    Port: String(port),
    HostKey: hostKey,
    PidFile: join(dir, "sshd.pid"),
    AuthorizedKeysFile: authorizedKeys,
    AllowUsers: user,
    UsePAM: "no",
    PasswordAuthentication: "yes",
    KbdInteractiveAuthentication: "no",
    PermitRootLogin: "no",
    // /tmp (where the key lives) is world-writable: StrictModes would refuse it.
    StrictModes: "no",
    LogLevel: "INFO",
    SyslogFacility: "AUTH",
    MaxStartups: "50:30:100",
    UseDNS: "no",
    PrintMotd: "no",
    ...options.settings,
  };
  writeFileSync(config, ["ListenAddress 0.0.0.0", "ListenAddress ::", ...Object.entries(settings).map(([k, v]) => `${k} ${v}`), ""].join("\n"));
  const sshdArgs = ["-D", ...(options.syslog ? [] : ["-E", authLog]), "-f", config];
  // The wrapper execs sshd in the same process: the listener's pid stays the spawned one.
  const joinCgroup = ["-c", 'echo $$ > "$1" && shift && exec "$@"', "sh"];
  const daemon = await startNsDaemon({
    name: "sshd",
    ns,
    file: options.cgroupProcs === undefined ? SSHD_BIN : "/bin/sh",
    args: options.cgroupProcs === undefined ? sshdArgs : [...joinCgroup, options.cgroupProcs, SSHD_BIN, ...sshdArgs],
    dir,
    ready: async () =>
      (options.syslog || (existsSync(authLog) && readFileSync(authLog, "utf8").includes("Server listening on ::"))) && (await tcpConnects(ns, "127.0.0.1", port, 1000)),
    exitDetail: () => (existsSync(authLog) ? readFileSync(authLog, "utf8") : ""),
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
  });
  return { dir, authLog, port, user, clientKey, process: daemon.process, pid: daemon.process.pid ?? -1, stop: daemon.stop };
}

export interface SshLoginOptions {
  /** The server address (IPv4 or IPv6). */
  host: string;
  port?: number;
  user?: string;
  /** Remote command. Default: "sleep 30". */
  command?: string;
  /** Private keys offered, in order. Default: [server.clientKey]. */
  keys?: readonly string[];
}

/** ssh client options common to every login: no host key checks, no prompts. */
function clientOptions(port: number): string[] {
  return [
    "-p", String(port),
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=5",
    "-o", "ServerAliveInterval=1",
    "-o", "ServerAliveCountMax=3",
  ];
}

/**
 * Opens an SSH session from namespace `clientNs` with the server's client
 * key, running `command` (default "sleep 30"); returns the ssh child so a
 * test can see it end when the session is closed. The session is
 * established once `waitForAccepted` resolves (it also gives the session's
 * sshd pid and source port).
 */
export function sshLogin(clientNs: string, server: SshdServer, options: SshLoginOptions): ChildProcess {
  const args = [
    ...(options.keys ?? [server.clientKey]).flatMap((key) => ["-i", key]),
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    ...clientOptions(options.port ?? server.port),
    `${options.user ?? server.user}@${options.host}`,
    options.command ?? "sleep 30",
  ];
  return nsSpawn(clientNs, "ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Waits until sshd logged the (skip+1)-th "Accepted ... for USER from IP
 * port P ssh2" line for `sourceIp`, then finds the session's sshd (the
 * listener's child whose socket's peer is IP:P) and returns {pid, ip, port},
 * or throws after `timeoutMs`.
 */
export async function waitForAccepted(
  server: SshdServer,
  sourceIp: string,
  timeoutMs = 10_000,
  skip = 0,
): Promise<{ pid: number; ip: string; port: number }> {
  const deadline = Date.now() + timeoutMs;
  const pattern = /^(?:sshd\[\d+\]: )?Accepted \S+ for \S+ from (\S+) port (\d+) ssh2/;
  for (;;) {
    const text = existsSync(server.authLog) ? readFileSync(server.authLog, "utf8") : "";
    const hits = text
      .split("\n")
      .map((line) => pattern.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && m[1] === sourceIp);
    const hit = hits[skip];
    if (hit !== undefined) {
      const port = Number(hit[2]);
      const pid = sessionPid(server, sourceIp, port);
      if (pid !== undefined) return { pid, ip: sourceIp, port };
    }
    if (Date.now() > deadline) throw new Error(`no accepted login from ${sourceIp} in ${server.authLog}:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The port of the first "Accepted ... from IP port P ssh2" line for
 * `sourceIp`, for a login whose session may already have ended (a command
 * such as `true`): unlike waitForAccepted, no live session is needed.
 */
export async function waitForAcceptedPort(server: SshdServer, sourceIp: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const pattern = /^(?:sshd\[\d+\]: )?Accepted \S+ for \S+ from (\S+) port (\d+) ssh2/;
  for (;;) {
    const text = existsSync(server.authLog) ? readFileSync(server.authLog, "utf8") : "";
    const hit = text
      .split("\n")
      .map((line) => pattern.exec(line))
      .find((m): m is RegExpExecArray => m !== null && m[1] === sourceIp);
    if (hit) return Number(hit[2]);
    if (Date.now() > deadline) throw new Error(`no accepted login from ${sourceIp} in ${server.authLog}:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pid of the listener's child serving the connection from ip:port, if any. */
export function sessionPid(server: SshdServer, ip: string, port: number): number | undefined {
  for (const pid of listPids()) {
    const info = readProc(pid);
    if (info === undefined || info.ppid !== server.pid) continue;
    if (tcpConnectionsOf(pid).some((c) => c.state === "ESTABLISHED" && sameIp(c.remoteIp, ip) && c.remotePort === port)) return pid;
  }
  return undefined;
}

/**
 * Whether `pid` is gone from /proc within `timeoutMs`. A closed session's
 * client can exit before the listener has reaped the session's process (it is
 * a zombie for a moment, or still ending after the connection dropped), so a
 * test waits for it instead of reading /proc once.
 */
export function reaped(pid: number, timeoutMs = 5_000): Promise<boolean> {
  return eventually(`pid ${pid} reaped`, () => readProc(pid) === undefined, timeoutMs).then(() => true, () => false);
}

/**
 * One failed password login from `clientNs` (a wrong password fed through
 * SSH_ASKPASS), producing "Failed password for USER from IP port P ssh2";
 * for a user that does not exist sshd first logs "Invalid user USER from IP
 * port P". Resolves with the ssh client's result (non-zero exit).
 */
export async function sshFailedLogin(
  clientNs: string,
  server: SshdServer,
  options: { host: string; user?: string; attempts?: number },
): Promise<ExecResult> {
  const askpass = join(server.dir, "askpass.sh");
  if (!existsSync(askpass)) {
    writeFileSync(askpass, "#!/bin/sh\necho wrong-password\n");
    chmodSync(askpass, 0o755);
  }
  const attempts = options.attempts ?? 1;
  return nsExec(
    clientNs,
    "setsid",
    [
      "-w",
      "ssh",
      ...clientOptions(server.port),
      "-o", "PreferredAuthentications=password",
      "-o", "PubkeyAuthentication=no",
      "-o", `NumberOfPasswordPrompts=${attempts}`,
      `${options.user ?? server.user}@${options.host}`,
      "true",
    ],
    { env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" }, timeoutMs: 20_000 },
  );
}

/** The minimal SSH-2 client beside this file (python3 + cryptography): user names with any bytes. */
export const RAW_CLIENT = join(dirname(fileURLToPath(import.meta.url)), "ssh-raw-client.py");

export interface RawClientResult {
  /** The client's local port (sshd's "port N" field). */
  port: number;
  /** One entry per reply: "failure", "success", "closed", "refused". */
  replies: string[];
  code: number | null;
}

/**
 * Runs the raw client from namespace `clientNs`: `password USER PASSWORD
 * TRIES` (USER may hold "\\n" / "\\r" escapes, sent as raw bytes), `banner
 * TEXT` or `cipher NAME` (see ssh-raw-client.py).
 */
export async function rawSshClient(clientNs: string, host: string, port: number, args: readonly string[]): Promise<RawClientResult> {
  const r = await nsExec(clientNs, "/usr/bin/python3", [RAW_CLIENT, host, String(port), ...args], { timeoutMs: 30_000 });
  const lines = r.stdout.split("\n").filter((l) => l !== "");
  const first = /^port (\d+)$/.exec(lines[0] ?? "");
  if (!first) throw new Error(`raw ssh client failed (${r.code}): ${r.stdout}${r.stderr}`);
  return { port: Number(first[1]), replies: lines.slice(1), code: r.code };
}
