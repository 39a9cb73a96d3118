// RSS, V8 heap and connect time per connection of bench/link-floor-server.ts
// under N (default 600) load agents (bench/link-load-fleet.ts), for the
// per-connection breakdown in docs/performance.md:
//   node --import tsx bench/link-floor.ts                         # bare node:http2 (the transport floor)
//   FLOOR_SERVER=connect node --import tsx bench/link-floor.ts    # connect-node's adapter
//   FLOOR_SERVER=grpc-js node --import tsx bench/link-floor.ts    # grpc-js's Server
//   SETTINGS='{"headerTableSize":256}' ...                        # HTTP/2 settings (http2, connect)
// FLOOR_SERVER_ENV (JSON) adds to the server's environment, e.g. '{"MALLOC_ARENA_MAX":"2"}';
// FLOOR_SNAPSHOT=DIR writes a heap snapshot of the server with all agents connected into DIR.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createSecureContext } from "node:tls";
import { createBenchPki } from "./link-certs.js";
import { cpuSeconds } from "./link-setup.js";
import { createLoadFleet } from "./link-load-fleet.js";

const N = Number(process.env.N ?? 600);
const kind = process.env.FLOOR_SERVER ?? "http2";
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "floor-"));
const pki = await createBenchPki(N);
const fleet = createLoadFleet();
const slots = pki.agents.map((a) => fleet.slot(a.name, createSecureContext({ ca: pki.ca.cert, cert: a.cert, key: a.key })));
writeFileSync(join(dir, "ca.pem"), pki.ca.cert);
writeFileSync(join(dir, "c.pem"), pki.controller.cert);
writeFileSync(join(dir, "k.pem"), pki.controller.key, { mode: 0o600 });
const serverEnv = process.env.FLOOR_SERVER_ENV ? (JSON.parse(process.env.FLOOR_SERVER_ENV) as Record<string, string>) : {};
const server = new URL("./link-floor-server.ts", import.meta.url).pathname;
const snapshotDir = process.env.FLOOR_SNAPSHOT;
const snapshotArgs = snapshotDir ? ["--heapsnapshot-signal=SIGUSR1", `--diagnostic-dir=${snapshotDir}`] : [];
const child = spawn(process.execPath, ["--expose-gc", ...snapshotArgs, "--import", "tsx", server, join(dir, "ca.pem"), join(dir, "c.pem"), join(dir, "k.pem")], {
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, ...serverEnv },
});
const waiters: Array<(value: { port: number; pid: number; memory: NodeJS.MemoryUsage }) => void> = [];
createInterface({ input: child.stdout }).on("line", (line) => waiters.shift()?.(JSON.parse(line)));
const next = () => new Promise<{ port: number; pid: number; memory: NodeJS.MemoryUsage }>((r) => waiters.push(r));
const memory = async () => {
  const answer = next();
  child.kill("SIGUSR2");
  return (await answer).memory;
};

try {
  const { port, pid } = await next();
  fleet.setPort(port);
  await sleep(300);
  const m0 = await memory();
  const r0 = rss(pid);
  const t = Date.now();
  const cpu0 = { server: cpuSeconds(pid), load: cpuSeconds() };
  await fleet.connectAll(slots, 300_000);
  const connectMs = Date.now() - t;
  const cpu = { server: cpuSeconds(pid) - cpu0.server, load: cpuSeconds() - cpu0.load };
  await sleep(1_000);
  const m1 = await memory();
  const r1 = rss(pid);
  const load = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  process.stdout.write(
    `${JSON.stringify({
      server: kind,
      N,
      settings: process.env.SETTINGS ?? "default",
      env: serverEnv,
      rssPerAgentKiB: Number((((r1 - r0) * 1024) / N).toFixed(1)),
      heapPerAgentKiB: Number(((m1.heapUsed - m0.heapUsed) / N / 1024).toFixed(1)),
      externalPerAgentKiB: Number(((m1.external - m0.external) / N / 1024).toFixed(1)),
      connectMs,
      connectPerAgentMs: Number((connectMs / N).toFixed(2)),
      serverCpuPerAgentMs: Number(((cpu.server * 1000) / N).toFixed(2)),
      loadCpuPerAgentMs: Number(((cpu.load * 1000) / N).toFixed(2)),
      loadAverage: load,
    })}\n`,
  );
  if (snapshotDir) {
    child.kill("SIGUSR1");
    // The snapshot is written when its file stops growing.
    let size = -1;
    for (let i = 0; i < 120; i += 1) {
      await sleep(1_000);
      const file = readdirSync(snapshotDir).find((f) => f.endsWith(".heapsnapshot") && f.includes(`.${pid}.`));
      const now = file ? statSync(join(snapshotDir, file)).size : -1;
      if (now > 0 && now === size) break;
      size = now;
    }
  }
} finally {
  fleet.closeAll();
  child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
  setTimeout(() => process.exit(0), 300);
}
