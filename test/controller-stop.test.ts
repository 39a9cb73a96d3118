import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { expect } from "chai";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { useTelegramWorld } from "./support/telegram-world.js";

const repoRoot = resolve(import.meta.dirname, "..");
const RUNS = 20;
const STOP_LIMIT_MS = 5_000;
const isCase = (c: ControllerMessage["payload"]["case"]) => (m: ControllerMessage) => m.payload.case === c;

/**
 * Issue 19 acceptance 6: `secarc controller` (the real command, in a
 * process of its own) stopped with SIGTERM 20 times in a row, each time with
 * an agent connected and a getUpdates long poll held open by the fake Bot
 * API: every stop exits within 5 s (telegraf's 500 s body timer must not
 * keep the process alive).
 */
describe("controller stops that stop", function () {
  this.timeout(RUNS * 30_000);
  const clients: RawAgentClient[] = [];
  const world = useTelegramWorld("secarc-stop-", async () => {
    for (const client of clients.splice(0)) client.close();
  });

  it(`exits within ${STOP_LIMIT_MS / 1000} s of SIGTERM, ${RUNS} times in a row, with an agent connected and polling active`, async () => {
    const certs = await world.pki.issueAgent("stopper");
    const configPath = join(world.dir, "controller.json");
    writeFileSync(
      configPath,
      JSON.stringify({
        listen: { host: "127.0.0.1", port: 0 },
        tls: { ca: world.pki.ca, cert: world.pki.controller.cert, key: world.pki.controller.key },
        store: { path: join(world.dir, "controller.db") },
        log: { level: "info" },
        telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: 77 }], allowedUsers: [1] },
      }),
    );
    const times: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      const child = spawn(process.execPath, [join(repoRoot, "bin/secarc.js"), "controller", "--config", configPath], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
      const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
      const lines: string[] = [];
      const port = await new Promise<number>((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`run ${run}: no "controller started" within 20 s:\n${lines.join("\n")}`)), 20_000);
        createInterface({ input: child.stderr! }).on("line", (line) => {
          lines.push(line);
          const parsed = JSON.parse(line) as { msg?: string; port?: number };
          if (parsed.msg === "controller started") {
            clearTimeout(timer);
            done(parsed.port!);
          }
        });
      });
      const agent = connectRawAgent({ port, ca: world.pki.ca, ...certs });
      clients.push(agent);
      agent.hello({ agentId: "stopper" });
      await agent.waitFor(isCase("welcome"), 10_000);
      // Polling is active: the token is accepted and getUpdates is a long poll the fake holds (up to 50 s).
      for (let i = 0; i < 200 && !lines.some((l) => l.includes("accepts the token")); i += 1) await new Promise((r) => setTimeout(r, 50));
      expect(lines.some((l) => l.includes("accepts the token")), `run ${run}: polling active`).to.equal(true);
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      child.kill("SIGTERM");
      const outcome = await Promise.race([exited, new Promise<"hung">((r) => setTimeout(() => r("hung"), 15_000))]);
      const took = Date.now() - started;
      if (outcome === "hung") child.kill("SIGKILL");
      expect(outcome, `run ${run}: exit code (log:\n${lines.slice(-5).join("\n")})`).to.equal(0);
      expect(took, `run ${run}: stop took ${took} ms`).to.be.below(STOP_LIMIT_MS);
      expect(lines.some((l) => l.includes("controller stopped")), `run ${run}`).to.equal(true);
      times.push(took);
      agent.close();
    }
    process.stdout.write(`      stop times (ms): max ${Math.max(...times)}, median ${[...times].sort((a, b) => a - b)[Math.floor(RUNS / 2)]}\n`);
  });
});
