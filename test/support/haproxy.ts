import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exited } from "./child-exit.js";

/** Debian's haproxy package. */
export const HAPROXY = "/usr/sbin/haproxy";

/**
 * A real HAProxy (Debian's `haproxy`) in TCP mode on loopback, passing TLS
 * through to `backends`: the config of docs/operations.md with loopback
 * addresses and fast health checks. Runs in the foreground (`-db`) as a
 * child of the test, its config in a temporary directory.
 */
export interface HaproxyServer {
  port: number;
  /** What HAProxy printed (warnings, server state changes). */
  log(): string;
  /** Stops HAProxy (SIGTERM, then SIGKILL) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartHaproxyOptions {
  /** Loopback port to listen on. */
  port: number;
  /** Backend ports on 127.0.0.1, in order. */
  backends: number[];
  /** Health check interval. Default: 300 ms. */
  checkEveryMs?: number;
}

/** The config: the operations.md snippet with loopback addresses. */
export function haproxyConfig(options: StartHaproxyOptions): string {
  const inter = options.checkEveryMs ?? 300;
  return [
    "global",
    "    log stderr format short local0 info",
    "defaults",
    "    log global",
    "frontend secarc_agents",
    "    mode tcp",
    "    option tcplog",
    `    bind 127.0.0.1:${options.port}`,
    "    timeout client 60s",
    "    default_backend secarc_controllers",
    "backend secarc_controllers",
    "    mode tcp",
    "    balance leastconn",
    "    timeout connect 5s",
    "    timeout server 60s",
    "    retries 2",
    "    option redispatch",
    `    default-server check inter ${inter}ms fall 1 rise 1 on-marked-down shutdown-sessions`,
    ...options.backends.map((port, i) => `    server ctl-${i} 127.0.0.1:${port}`),
    "",
  ].join("\n");
}

export async function startHaproxy(options: StartHaproxyOptions): Promise<HaproxyServer> {
  const dir = mkdtempSync(join(tmpdir(), "secarc-haproxy-"));
  const configPath = join(dir, "haproxy.cfg");
  writeFileSync(configPath, haproxyConfig(options));
  try {
    execFileSync(HAPROXY, ["-c", "-q", "-f", configPath], { stdio: "pipe" });
  } catch (err) {
    // Not installed, or the config refused: nothing of it stays behind.
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const child: ChildProcess = spawn(HAPROXY, ["-db", "-f", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output = (output + chunk).slice(-100_000)));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output = (output + chunk).slice(-100_000)));
  const stopOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", stopOnExit);
  if (await exited(child, 300)) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`haproxy exited at start:\n${output}`);
  }
  let stopped = false;
  return {
    port: options.port,
    log: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off("exit", stopOnExit);
      child.kill("SIGTERM");
      if (!(await exited(child, 5_000))) {
        child.kill("SIGKILL");
        await exited(child, 5_000);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
