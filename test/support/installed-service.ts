import { spawn, type ChildProcess } from "node:child_process";
import { chownSync, createWriteStream, mkdirSync, readFileSync, readlinkSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { servicePlan } from "./unit-file.js";

/** Programs of the build machine that an installed package must not need. */
const BUILD_TOOLS = new Set(["node", "nodejs", "npm", "npx", "corepack", "tsx", "tsc"]);

/**
 * A directory of links to everything in /usr/bin and /bin but Node and its
 * tools: with /usr/sbin and /sbin, the PATH of a server without Node.
 */
export function pathWithoutNode(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const bin of ["/usr/bin", "/bin"]) {
    for (const name of readdirSync(bin)) {
      if (BUILD_TOOLS.has(name)) continue;
      try {
        symlinkSync(join(bin, name), join(dir, name));
      } catch {
        // already linked from the other directory
      }
    }
  }
  return `/usr/sbin:${dir}:/sbin`;
}

function passwdEntry(user: string): { uid: number; gid: number; home: string } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user}`);
  const [, , uid, gid, , home] = line.split(":");
  return { uid: Number(uid), gid: Number(gid), home: home ?? "/" };
}

function groupId(group: string): number {
  const line = readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${group}:`));
  if (!line) throw new Error(`no group ${group}`);
  return Number(line.split(":")[2]);
}

export interface InstalledService {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once it has exited. */
  exited: Promise<number | string>;
  stop(): Promise<number | string>;
}

/**
 * Starts an installed unit's ExecStart the way systemd would where systemd is
 * not PID 1: as its User=/Group=, with its Environment=/EnvironmentFile=,
 * StateDirectory= created and named in STATE_DIRECTORY, and its UMask=.
 */
export function startInstalledService(unitPath: string, options: { path: string; logFile: string }): InstalledService {
  const plan = servicePlan(unitPath);
  const user = passwdEntry(plan.user);
  const gid = plan.group === undefined ? user.gid : groupId(plan.group);
  const stateDirs = plan.stateDirectories.map((d) => join("/var/lib", d));
  for (const dir of stateDirs) {
    mkdirSync(dir, { recursive: true, mode: plan.stateDirectoryMode });
    chownSync(dir, user.uid, gid);
  }
  const env: Record<string, string> = {
    PATH: options.path,
    HOME: user.home,
    USER: plan.user,
    LOGNAME: plan.user,
    LANG: "C.UTF-8",
    ...plan.env,
  };
  if (stateDirs.length > 0) env.STATE_DIRECTORY = stateDirs.join(":");
  // A constant script; the unit's argv is passed as arguments, never parsed by the shell.
  const umask = (plan.umask ?? 0o022).toString(8).padStart(4, "0");
  const child = spawn("/bin/sh", ["-c", 'umask "$1"; shift; exec "$@"', "sh", umask, ...plan.argv], {
    env,
    uid: user.uid,
    gid,
    cwd: "/",
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const log = createWriteStream(options.logFile);
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      log.write(chunk);
    });
  }
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => text,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const result = await exited;
      clearTimeout(timer);
      log.end();
      return result;
    },
  };
}

/** The executable a process runs (/proc/PID/exe), or undefined once it is gone. */
export function processExe(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** The real uid of a process, from /proc/PID/status. */
export function processUid(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("Uid:"));
  return Number(line?.split(/\s+/)[1]);
}
