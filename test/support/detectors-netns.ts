// Minimal network-namespace plumbing for the detector system tests: a
// server namespace and a client namespace joined by a veth pair, on a
// random private /24, removed afterwards. Commands run with argument
// vectors (execFile), never through a shell. Needs root.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";

export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

export interface NetnsPair {
  server: string;
  client: string;
  serverIp: string;
  /** The client's main address. */
  clientIp: string;
  /** A second address on the client's interface (a second "client"). */
  clientIp2: string;
  /** Runs a command inside a namespace and waits for it. */
  exec(ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  /** Starts a long-running command inside a namespace. */
  spawn(ns: string, cmd: string, args: string[], options?: SpawnOptions): ChildProcess;
  remove(): Promise<void>;
}

export async function createNetnsPair(label: string): Promise<NetnsPair> {
  const id = randomBytes(3).toString("hex");
  const server = `secarc-${label}-s-${id}`;
  const client = `secarc-${label}-c-${id}`;
  const b = randomBytes(2);
  const net = `10.${200 + (b[0]! % 50)}.${b[1]}`;
  const serverIp = `${net}.1`;
  const clientIp = `${net}.2`;
  const clientIp2 = `${net}.3`;
  const vs = `vs${id}`;
  const vc = `vc${id}`;
  const pair: NetnsPair = {
    server,
    client,
    serverIp,
    clientIp,
    clientIp2,
    exec: (ns, cmd, args, timeoutMs) => run("ip", ["netns", "exec", ns, cmd, ...args], timeoutMs),
    spawn: (ns, cmd, args, options = {}) => spawn("ip", ["netns", "exec", ns, cmd, ...args], options),
    async remove() {
      await run("ip", ["netns", "del", server]).catch(() => undefined);
      await run("ip", ["netns", "del", client]).catch(() => undefined);
    },
  };
  try {
    await run("ip", ["netns", "add", server]);
    await run("ip", ["netns", "add", client]);
    await run("ip", ["link", "add", vs, "netns", server, "type", "veth", "peer", "name", vc, "netns", client]);
    await pair.exec(server, "ip", ["addr", "add", `${serverIp}/24`, "dev", vs]);
    await pair.exec(client, "ip", ["addr", "add", `${clientIp}/24`, "dev", vc]);
    await pair.exec(client, "ip", ["addr", "add", `${clientIp2}/24`, "dev", vc]);
    for (const [ns, dev] of [[server, vs], [client, vc]] as const) {
      await pair.exec(ns, "ip", ["link", "set", dev, "up"]);
      await pair.exec(ns, "ip", ["link", "set", "lo", "up"]);
    }
  } catch (err) {
    await pair.remove();
    throw err;
  }
  return pair;
}

/** Waits until `check` holds, polling every 20 ms, at most `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stops a child started with NetnsPair.spawn and waits for it to exit (bounded). */
export async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}
