import { execFile, spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { exited } from "./child-exit.js";

/**
 * The Go example agent (examples/go-agent/) as a child process: built by its
 * build.sh from the committed protos with Debian's Go toolchain, run with
 * arguments, its JSON event lines collected from standard output.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const GO_AGENT_DIR = join(ROOT, "examples", "go-agent");
export const GO_AGENT_BINARY = join(GO_AGENT_DIR, ".build", "bin", "secarc-go-agent");

/** Runs examples/go-agent/build.sh (unit tests included); rejects with its output when it fails. */
export function buildGoAgent(timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [join(GO_AGENT_DIR, "build.sh")], { cwd: ROOT, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`examples/go-agent/build.sh failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** One line of the agent's standard output. */
export interface GoAgentEvent {
  event: string;
  [field: string]: unknown;
}

export interface GoAgentProcess {
  events: GoAgentEvent[];
  /** Events named `event` (and matching `fields`) so far. */
  named(event: string, fields?: Record<string, unknown>): GoAgentEvent[];
  /** Resolves with the first such event; rejects after `timeoutMs` or when the process exits first. */
  waitFor(event: string, fields: Record<string, unknown>, timeoutMs: number): Promise<GoAgentEvent>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, as a power cut would; resolves once it is gone. */
  kill(): Promise<void>;
}

export function startGoAgent(args: string[]): GoAgentProcess {
  const child: ChildProcess = spawn(GO_AGENT_BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
  const events: GoAgentEvent[] = [];
  let stderr = "";
  let partial = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    partial += chunk.toString("utf8");
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as GoAgentEvent);
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exitedPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let done = false;
  void exitedPromise.then(() => (done = true));
  const named = (event: string, fields: Record<string, unknown> = {}) => events.filter((e) => e.event === event && Object.entries(fields).every(([k, v]) => e[k] === v));
  return {
    events,
    named,
    async waitFor(event, fields, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = named(event, fields)[0];
        if (found) return found;
        if (done) throw new Error(`the Go agent exited before ${event} ${JSON.stringify(fields)}; stderr:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${event} ${JSON.stringify(fields)}; stderr:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    exited: exitedPromise,
    stderr: () => stderr,
    async stop(timeoutMs = 10_000) {
      if (!done) child.kill("SIGTERM");
      if (!(await exited(child, timeoutMs))) child.kill("SIGKILL");
      return exitedPromise;
    },
    async kill() {
      if (!done) child.kill("SIGKILL");
      await exitedPromise;
    },
  };
}
