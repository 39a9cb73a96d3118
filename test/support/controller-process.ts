import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ControllerConfigInput } from "../../controller/config.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");
const MAIN = join(here, "controller-process-main.ts");

export interface ControllerProcessOptions {
  /** The controller config as it would be written in a file (durations as "10s" or seconds). */
  config: ControllerConfigInput;
  /**
   * Extra environment. SECARC_TEST_CRASH_AFTER_STORE=1 makes the controller
   * SIGKILL itself after storing the first alert and before acking it.
   */
  env?: Record<string, string>;
  /** How long to wait for the port line. Default: 20 s. */
  startTimeoutMs?: number;
  /** Copy the child's stderr (its log) to this process's stderr. Default: false. */
  echoLog?: boolean;
  /** Extra node options, e.g. ["--expose-gc"]. Default: none. */
  nodeArgs?: string[];
}

export interface ControllerProcess {
  port: number;
  pid: number;
  /** Sends a signal to the process (default SIGTERM, a clean stop). */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  stopped: Promise<number | null>;
  /** The child's stderr lines (its log) so far. */
  log: string[];
  /** After a clean stop: how long the controller's own close took, ms (the exit the parent sees may come later). */
  closedInMs(): number | undefined;
  /** process.memoryUsage() of the child (it answers SIGUSR2), after a GC when started with --expose-gc. */
  memoryUsage(): Promise<NodeJS.MemoryUsage>;
}

/**
 * Starts a controller in a child process (`node --import tsx`) from a JSON
 * config file, and resolves once it listens. For tests that need to kill
 * the controller for real (SIGKILL between store and ack, restarts).
 */
/** Controllers still running, with their folders: killed and removed at exit even when a test ends (or mocha exits) first. */
const running = new Map<ChildProcess, string>();
process.once("exit", () => {
  for (const [child, dir] of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

export async function startControllerProcess(options: ControllerProcessOptions): Promise<ControllerProcess> {
  const dir = mkdtempSync(join(tmpdir(), "secarc-controller-process-"));
  const configPath = join(dir, "controller.json");
  writeFileSync(configPath, JSON.stringify(options.config));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), "--import", "tsx", MAIN, configPath], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.set(child, dir);
  const log: string[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    log.push(line);
    if (options.echoLog) process.stderr.write(`${line}\n`);
  });
  const stopped = new Promise<number | null>((resolveExit) => {
    child.once("exit", (code) => {
      running.delete(child);
      rmSync(dir, { recursive: true, force: true });
      resolveExit(code);
    });
  });

  const memoryWaiters: Array<(usage: NodeJS.MemoryUsage) => void> = [];
  let closedInMs: number | undefined;
  const started = await new Promise<{ port: number; pid: number }>((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`controller process did not start within ${options.startTimeoutMs ?? 20_000} ms:\n${log.join("\n")}`));
    }, options.startTimeoutMs ?? 20_000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as { port: number; pid: number; memory?: NodeJS.MemoryUsage; closedInMs?: number };
        if (parsed.memory) memoryWaiters.shift()?.(parsed.memory);
        else if (typeof parsed.closedInMs === "number") closedInMs = parsed.closedInMs;
        else if (typeof parsed.port === "number") {
          clearTimeout(timer);
          resolveStart(parsed);
        }
      } catch {
        // not the port line
      }
    });
    void stopped.then((code) => {
      clearTimeout(timer);
      reject(new Error(`controller process exited (${code}) before listening:\n${log.join("\n")}`));
    });
  });

  return {
    port: started.port,
    pid: started.pid,
    kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stopped,
    log,
    closedInMs: () => closedInMs,
    memoryUsage() {
      return new Promise((resolveUsage) => {
        memoryWaiters.push(resolveUsage);
        child.kill("SIGUSR2");
      });
    },
  };
}
