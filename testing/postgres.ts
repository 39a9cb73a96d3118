import { execFile, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";

const run = promisify(execFile);

/**
 * A throw-away PostgreSQL cluster from Debian's `postgresql` package: initdb
 * and pg_ctl in a temporary directory, listening on 127.0.0.1 at a free port
 * with its unix socket in the same directory, removed by `stop()`.
 *
 * initdb refuses to run as root, so when the test runs as root (CI) the
 * server runs as Debian's `postgres` user, owner of the temporary directory.
 * Authentication is `trust` for the superuser `secarc`, and only on loopback.
 */
export interface PgCluster {
  /** The temporary directory: data/, the socket, server.log. */
  dir: string;
  /** The TCP port on 127.0.0.1. */
  port: number;
  /** The URL of the `postgres` database (the maintenance database). */
  url: string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** The server's log so far (for failure messages). */
  log(): string;
  /** Stops the server (fast shutdown, then SIGKILL if it lingers) and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPgClusterOptions {
  /**
   * Turn fsync off. Durability is what the store promises, so it stays on
   * unless a test sets this to its reason for not needing it (e.g. a
   * benchmark of another component). Default: fsync on.
   */
  fsyncOffBecause?: string;
  /** Give up starting after this long. Default: 60 s (the machine is shared). */
  startTimeoutMs?: number;
}

/** The newest installed PostgreSQL's bin directory (/usr/lib/postgresql/<version>/bin). */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL under ${root}: apt-get install -y postgresql (Debian's package; .ci/run installs it)`);
  return join(root, versions[0]!, "bin");
}

/** Clusters not yet stopped: removed at exit even when a test failed before its own clean-up. */
const live = new Set<{ stopNow(): void }>();
process.once("exit", () => {
  for (const cluster of live) cluster.stopNow();
});

export async function startPgCluster(options: StartPgClusterOptions = {}): Promise<PgCluster> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), "secarc-pg-"));
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  const asUser = process.getuid?.() === 0 ? "postgres" : undefined;
  const pgctl = (args: string[], timeoutMs: number) => runAs(asUser, join(bin, "pg_ctl"), args, dir, timeoutMs);
  let port = 0;
  let started = false;
  const stopNow = () => {
    live.delete(entry);
    if (started) {
      try {
        execFileSync(...command(asUser, join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "-t", "20", "stop"]), { cwd: dir, stdio: "ignore", timeout: 30_000 });
      } catch {
        // already stopped
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const entry = { stopNow };
  live.add(entry);
  try {
    if (asUser) chownSync(dir, userId(asUser, "-u"), userId(asUser, "-g"));
    // --no-sync only for initdb's own files: a crash while creating a
    // throw-away cluster leaves nothing to recover. The server syncs.
    await runAs(asUser, join(bin, "initdb"), ["-D", data, "-U", "secarc", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], dir, 120_000);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      writeFileSync(join(data, "postgresql.auto.conf"), serverSettings(dir, port, options.fsyncOffBecause));
      try {
        started = true;
        await pgctl(["-D", data, "-l", logFile, "-w", "-t", String(Math.ceil((options.startTimeoutMs ?? 60_000) / 1000)), "start"], (options.startTimeoutMs ?? 60_000) + 10_000);
        break;
      } catch (err) {
        // Another process took the port between the probe and the start: try another, a few times.
        if (attempt >= 3 || !readLog(logFile).includes("could not bind")) throw new Error(`PostgreSQL did not start: ${String(err)}\n${readLog(logFile)}`);
        started = false;
      }
    }
  } catch (err) {
    stopNow();
    throw err;
  }
  const url = `postgres://secarc@127.0.0.1:${port}/postgres`;
  let stopped = false;
  let databases = 0;
  return {
    dir,
    port,
    url,
    async createDatabase(name = `t${process.pid}_${++databases}`) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await sql.end({ timeout: 5 });
      }
      return `postgres://secarc@127.0.0.1:${port}/${name}`;
    },
    log: () => readLog(logFile),
    async stop() {
      if (stopped) return;
      stopped = true;
      live.delete(entry);
      try {
        await pgctl(["-D", data, "-m", "fast", "-w", "-t", "30", "stop"], 40_000);
        started = false;
      } catch {
        // stopNow below falls back to an immediate shutdown
      }
      stopNow();
    },
  };
}

/** postgresql.auto.conf: loopback only, the socket in `dir`, fsync as the test asked. */
function serverSettings(dir: string, port: number, fsyncOffBecause: string | undefined): string {
  return [
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${dir}'`,
    `fsync = ${fsyncOffBecause ? "off" : "on"}`,
    "max_connections = 100",
    "shared_buffers = 16MB",
    "log_min_messages = warning",
    "",
  ].join("\n");
}

function command(asUser: string | undefined, file: string, args: string[]): [string, string[]] {
  return asUser ? ["runuser", ["-u", asUser, "--", file, ...args]] : [file, args];
}

async function runAs(asUser: string | undefined, file: string, args: string[], cwd: string, timeoutMs: number): Promise<void> {
  const [cmd, argv] = command(asUser, file, args);
  try {
    await run(cmd, argv, { cwd, timeout: timeoutMs, env: { ...process.env, LC_ALL: "C" } });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${file.split("/").pop()} failed: ${e.message}\n${e.stderr ?? ""}${e.stdout ?? ""}`);
  }
}

function userId(user: string, flag: "-u" | "-g"): number {
  return Number(execFileSync("id", [flag, user], { encoding: "utf8" }).trim());
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
