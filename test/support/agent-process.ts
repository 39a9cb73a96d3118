import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AgentConfigInput } from "../../agent/config.js";
import type { ExecutionRecord } from "../fixtures/agent/recording-responder.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/agent/run-agent.ts", import.meta.url));

export interface AgentProcessOptions {
  /** The agent config; written to `dir`/agent-config.json. */
  config: AgentConfigInput;
  /** A directory for the config file. */
  dir: string;
  /** Where executions are recorded (JSON lines). */
  recordFile: string;
  /** Responder waits this long after recording an execution. */
  executeDelayMs?: number;
  /** "after-execute": the process SIGKILLs itself right after recording an execution. */
  crash?: "after-execute";
  /** Alerts to emit at start. */
  emitCount?: number;
  /** Boot id reported to the journal. */
  bootId?: string;
}

export interface AgentProcessEvent {
  event: "started" | "emitted" | "connected" | "disconnected" | "stopped";
  agentId?: string;
  ids?: string[];
}

export interface AgentProcess {
  pid: number;
  /** Every event printed so far. */
  events: AgentProcessEvent[];
  /** Resolves with the n-th (default: first) event of that name; rejects after `timeoutMs` or when the process exits first. */
  waitFor(event: AgentProcessEvent["event"], timeoutMs: number, nth?: number): Promise<AgentProcessEvent>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Sends SIGTERM (graceful stop) and waits for the exit, SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stderr (its logs). */
  stderr(): string;
}

/**
 * Runs test/fixtures/agent/run-agent.ts (an agent with a recording responder)
 * in a child process through tsx; resolves once it has started.
 */
export async function startAgentProcess(options: AgentProcessOptions, startTimeoutMs = 20_000): Promise<AgentProcess> {
  const configPath = join(options.dir, "agent-config.json");
  writeFileSync(configPath, JSON.stringify(options.config));
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    env: {
      ...process.env,
      SECARC_TEST_AGENT_CONFIG: configPath,
      SECARC_TEST_RECORD_FILE: options.recordFile,
      ...(options.executeDelayMs ? { SECARC_TEST_EXECUTE_DELAY_MS: String(options.executeDelayMs) } : {}),
      ...(options.crash ? { SECARC_TEST_CRASH: options.crash } : {}),
      ...(options.emitCount ? { SECARC_TEST_EMIT_COUNT: String(options.emitCount) } : {}),
      ...(options.bootId ? { SECARC_TEST_BOOT_ID: options.bootId } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: AgentProcessEvent[] = [];
  const listeners = new Set<() => void>();
  let stderr = "";
  let stdoutRest = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdoutRest += chunk;
    const lines = stdoutRest.split("\n");
    stdoutRest = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        events.push(JSON.parse(line) as AgentProcessEvent);
      } catch {
        stderr += `[stdout] ${line}\n`;
      }
    }
    for (const listener of [...listeners]) listener();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-200_000);
  });
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      hasExited = true;
      for (const listener of [...listeners]) listener();
      resolve({ code, signal });
    });
  });

  const waitFor: AgentProcess["waitFor"] = (event, timeoutMs, nth = 1) =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = events.filter((e) => e.event === event)[nth - 1];
        if (found) finish(() => resolve(found));
        else if (hasExited) finish(() => reject(new Error(`agent process exited before "${event}"; stderr:\n${stderr.slice(-4000)}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`agent process: no "${event}" within ${timeoutMs} ms; stderr:\n${stderr.slice(-4000)}`))), timeoutMs);
      const finish = (then: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        then();
      };
      listeners.add(check);
      check();
    });

  const agentProcess: AgentProcess = {
    pid: child.pid!,
    events,
    waitFor,
    exited,
    async kill() {
      if (!hasExited) child.kill("SIGKILL");
      await exited;
    },
    async stop(timeoutMs = 10_000) {
      if (!hasExited) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    stderr: () => stderr,
  };
  try {
    await waitFor("started", startTimeoutMs);
  } catch (err) {
    await agentProcess.kill();
    throw err;
  }
  return agentProcess;
}

/** The executions recorded in a recording file (empty when the file does not exist yet). */
export function readExecutions(recordFile: string): ExecutionRecord[] {
  if (!existsSync(recordFile)) return [];
  return readFileSync(recordFile, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as ExecutionRecord);
}

/** An agent config for tests: loopback controller on `port`, fast reconnects, no detectors' files needed. */
export function testAgentConfig(input: { ca: string; cert: string; key: string; stateDir: string; port: number; logLevel?: "debug" | "info" | "warn" | "error" }): AgentConfigInput {
  return {
    controller: { address: `127.0.0.1:${input.port}`, serverName: "localhost" },
    tls: { ca: input.ca, cert: input.cert, key: input.key },
    stateDir: input.stateDir,
    link: { backoffInitial: "50ms", backoffMax: "300ms", keepaliveTime: "2s", keepaliveTimeout: "2s", connectTimeout: "5s" },
    log: { level: input.logLevel ?? "warn" },
    // Tests emit bursts of alerts to exercise the link (backlogs, full disks, floods); the
    // production limit (120 a minute) would fold them into a digest. The limit's own test sets it.
    alerts: { maxPerMinute: 100_000 },
  };
}

/** A loopback TCP port that nothing listens on right now (to start a controller there later). */
export async function freeLoopbackPort(): Promise<number> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `condition` (which may read the store) every 20 ms until it holds; throws with `what` after `timeoutMs`. */
export async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
