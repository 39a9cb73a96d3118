import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { AgentConfigInput } from "../../agent/config.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/agent/run-agent-host.ts", import.meta.url));

export interface AgentHostOptions {
  /** Where the host's spec file goes (`dir`/`name`.json). */
  dir: string;
  /** Names the spec file and the host in errors. */
  name: string;
  /** One config per agent; each with its own stateDir and certificate. */
  agents: AgentConfigInput[];
  /** Every execution of every agent appends a line here (kept across restarts of the host). */
  recordFile: string;
  /** How long the process may take to load, and its agents to start. Default: 60 s each. */
  startTimeoutMs?: number;
}

/** An alert an agent of the host has made durable in its outbox. */
export interface EmittedAlert {
  agentId: string;
  id: string;
}

export interface HostedAgentStatus {
  agentId: string;
  connected: boolean;
  /** "host:port" of the controller it is connected to; null while not connected. */
  endpoint: string | null;
  outbox: number;
}

/** One line of a host's record file: one real execution by one of its agents. */
export interface HostedExecution {
  actionId: string;
  answer: string;
  agentId: string;
  pid: number;
  at: number;
}

export interface AgentHost {
  name: string;
  pid: number;
  agentIds: string[];
  /** Every agent emits `count` alerts; resolves with them once they are durable in the outboxes. */
  emit(count: number, timeoutMs?: number): Promise<EmittedAlert[]>;
  status(timeoutMs?: number): Promise<HostedAgentStatus[]>;
  /** kill -9: every agent of the host dies at once. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (agents close cleanly), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  /** The tail of the host's stderr (the agents' logs). */
  stderr(): string;
}

/** Hosts still running: killed at exit even when a test ends (or mocha exits) first. */
const running = new Set<() => void>();
process.once("exit", () => {
  for (const kill of running) kill();
});

/** A host process that has loaded everything and waits to start its agents. */
export interface PreparedAgentHost {
  /** Starts the agents; resolves once all have started. */
  start(): Promise<AgentHost>;
  kill(): Promise<void>;
}

/**
 * Starts test/fixtures/agent/run-agent-host.ts: several real agents (each
 * with a recording responder) in one child process; resolves once all
 * have started. Start it again with the same options to bring the same
 * agents back (same state directories, journals and certificates).
 */
export async function startAgentHost(options: AgentHostOptions): Promise<AgentHost> {
  return (await prepareAgentHost(options)).start();
}

/** The host process of startAgentHost, loaded but with its agents not started yet (start() starts them at once). */
export async function prepareAgentHost(options: AgentHostOptions): Promise<PreparedAgentHost> {
  const specPath = join(options.dir, `${options.name}.json`);
  writeFileSync(specPath, JSON.stringify({ agents: options.agents, recordFile: options.recordFile }));
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    env: { ...process.env, SECARC_TEST_AGENT_HOST: specPath, SECARC_TEST_AGENT_HOST_DEFER: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const killNow = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  running.add(killNow);
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-100_000);
  });
  child.stdin!.on("error", () => undefined); // a killed host: writes fail, the waiters below report it
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      running.delete(killNow);
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));

  type Line = { event: string; seq?: number } & Record<string, unknown>;
  const waiters = new Set<{ match: (line: Line) => boolean; resolve: (line: Line) => void; reject: (err: Error) => void }>();
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      return;
    }
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  void exited.then(() => {
    for (const waiter of [...waiters]) waiter.reject(new Error(`agent host ${options.name} exited; stderr:\n${stderr.slice(-3000)}`));
    waiters.clear();
  });
  const waitLine = (match: (line: Line) => boolean, what: string, timeoutMs: number) =>
    new Promise<Line>((resolve, reject) => {
      if (gone) return reject(new Error(`agent host ${options.name} is not running (${what})`));
      const waiter = {
        match,
        resolve: (line: Line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`agent host ${options.name}: no ${what} within ${timeoutMs} ms; stderr:\n${stderr.slice(-3000)}`));
      }, timeoutMs);
      waiters.add(waiter);
    });

  let seq = 0;
  const ask = (command: Record<string, unknown>, event: string, timeoutMs: number) => {
    seq += 1;
    const mine = seq;
    const answer = waitLine((line) => line.event === event && line.seq === mine, `${event} ${mine}`, timeoutMs);
    child.stdin!.write(`${JSON.stringify({ ...command, seq: mine })}\n`);
    return answer;
  };

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const failed = async (err: unknown): Promise<never> => {
    killNow();
    await exited;
    throw err;
  };
  await waitLine((line) => line.event === "ready", "ready line", timeoutMs).catch(failed);
  const host = (started: Line): AgentHost => ({
    name: options.name,
    pid: child.pid!,
    agentIds: started.agents as string[],
    async emit(count, emitTimeoutMs = 20_000) {
      return (await ask({ cmd: "emit", count }, "emitted", emitTimeoutMs)).alerts as EmittedAlert[];
    },
    async status(statusTimeoutMs = 10_000) {
      return (await ask({ cmd: "status" }, "status", statusTimeoutMs)).agents as HostedAgentStatus[];
    },
    async kill() {
      killNow();
      await exited;
    },
    async stop(stopTimeoutMs = 15_000) {
      if (!gone) child.kill("SIGTERM");
      const timer = setTimeout(killNow, stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    },
    stderr: () => stderr,
  });
  return {
    async start() {
      const started = waitLine((line) => line.event === "started", "start", timeoutMs);
      child.stdin!.write(`${JSON.stringify({ cmd: "start" })}\n`);
      return host(await started.catch(failed));
    },
    async kill() {
      killNow();
      await exited;
    },
  };
}

/** The executions in a host's record file (empty while it does not exist). */
export function readHostedExecutions(recordFile: string): HostedExecution[] {
  if (!existsSync(recordFile)) return [];
  return readFileSync(recordFile, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as HostedExecution);
}
