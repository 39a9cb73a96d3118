// The load fleet as one Go process (bench/go-load/main.go): the same agents
// and the same commands as the worker threads of link-load-workers.ts, at
// a fraction of their CPU. In Node each load agent's TLS and HTTP/2 client
// cost about twice what the controller spent on it, so on a 2-core machine
// the load took most of the CPU it was meant to leave to the controller.
import { execFile, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { BenchPki } from "./link-certs.js";
import { createFleet, createWorkerFleet, type FleetPart, type Report, type WorkerFleet } from "./link-load-workers.js";

const here = new URL(".", import.meta.url).pathname;
const BUILD = join(here, "go-load", "build.sh");
const BINARY = join(here, "go-load", ".build", "secarc-go-load");

/** Builds the Go load (bench/go-load/build.sh: Debian's golang-go and grpc-go, nothing downloaded). */
export async function buildGoLoad(): Promise<string> {
  try {
    await promisify(execFile)(BUILD, [], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`building the Go load fleet failed (${BUILD}; the Debian packages are in examples/go-agent/README.md, or run the Node load: LINK_BENCH_LOAD=node, REPLICAS_BENCH_LOAD=node): ${e.stderr?.trim() || e.message}`);
  }
  return BINARY;
}

/** The agents `pki.agents` in one Go load process; `dir` takes the file of their certificates. */
export async function createGoFleet(pki: Pick<BenchPki, "ca" | "agents">, dir: string) {
  const binary = await buildGoLoad();
  const file = join(dir, "go-load-agents.json");
  writeFileSync(file, JSON.stringify({ ca: pki.ca.cert, agents: pki.agents }), { mode: 0o600 });
  const child = spawn(binary, [file], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const part: FleetPart = {
    post: (command) => child.stdin.write(`${JSON.stringify(command)}\n`),
    listen(onReport, onFailure) {
      createInterface({ input: child.stdout }).on("line", (line) => onReport(JSON.parse(line) as Report));
      child.once("exit", (code, signal) => {
        if (code !== 0) onFailure(`the Go load process exited (${code ?? signal}): ${stderr.trim()}`);
      });
    },
    async terminate() {
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.stdin.end();
      await exited;
      clearTimeout(timer);
    },
  };
  return { ...createFleet([part], pki.agents.length), pid: child.pid! };
}

/**
 * The benchmark's load as the environment variable `variable` says: "go"
 * (the default: one Go process) or "node" (the Node fleet in `nodeWorkers`
 * worker threads of this process). `pid`: the process whose CPU is the load's.
 */
export async function openBenchLoad(variable: string, pki: Pick<BenchPki, "ca" | "agents">, dir: string, nodeWorkers: number): Promise<{ fleet: WorkerFleet; pid: number | "self"; description: string }> {
  const kind = process.env[variable] ?? "go";
  if (kind === "go") {
    const fleet = await createGoFleet(pki, dir);
    return { fleet, pid: fleet.pid, description: "one Go process (bench/go-load)" };
  }
  if (kind === "node") return { fleet: await createWorkerFleet(pki, nodeWorkers), pid: "self", description: `${nodeWorkers} worker thread${nodeWorkers === 1 ? "" : "s"}` };
  throw new Error(`${variable} is "go" or "node", not "${kind}"`);
}
