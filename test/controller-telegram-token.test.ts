import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import type { ControllerConfigInput } from "../controller/config.js";
import type { StatusReport } from "../controller/admin/status-report.js";
import { createFakeBotApi, type FakeBotApi } from "../testing/fake-bot-api.js";
import { exited } from "./support/child-exit.js";
import { sshAlert } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SECARC = join(ROOT, "bin", "secarc.js");
const CHAT = 1001;

/** `secarc ARGS` as a child process; resolves with its exit code and output. */
function secarc(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SECARC, ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 99) : 0, stdout, stderr });
    });
  });
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("controller with a refused Telegram token (issue 13, acceptance 3)", function () {
  this.timeout(90_000);
  let pki: TestPki;
  let dir: string;
  let api: FakeBotApi;
  let controller: ChildProcess | undefined;
  let agent: RawAgentClient | undefined;
  const log: string[] = [];

  beforeEach(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-token-"));
    api = createFakeBotApi();
    await api.start();
    log.length = 0;
  });
  afterEach(async () => {
    agent?.close();
    if (controller && controller.exitCode === null) {
      controller.kill("SIGTERM");
      if (!(await exited(controller, 20_000))) controller.kill("SIGKILL");
    }
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
    pki.cleanup();
  });

  async function startController(config: ControllerConfigInput, envFile: string): Promise<number> {
    const configPath = join(dir, "controller.json");
    writeFileSync(configPath, JSON.stringify(config));
    const child = spawn(process.execPath, [SECARC, "controller", "--config", configPath, "--env-file", envFile], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    controller = child;
    createInterface({ input: child.stderr! }).on("line", (line) => log.push(line));
    return until("the controller to listen", () => log.map((l) => /"port":(\d+).*controller started/.exec(l)?.[1]).find(Boolean), 30_000).then(Number);
  }

  it("serves agents and stores alerts while the token is refused; status names the token; fixing the environment file and SIGHUP delivers the waiting alert", async () => {
    const envFile = join(dir, "controller.env");
    writeFileSync(envFile, "# the controller's secrets\nTELEGRAM_BOT_TOKEN=123456:not-the-right-token\n", { mode: 0o600 });
    const socket = join(dir, "admin.sock");
    const config: ControllerConfigInput = {
      listen: { host: "127.0.0.1", port: 0 },
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
      store: { path: join(dir, "controller.db") },
      admin: { socket },
      metrics: { listen: { host: "127.0.0.1", port: 0 } },
      telegram: { apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [77], pace: { perChat: "50ms" } },
    };
    const port = await startController(config, envFile);

    // Agents connect and alerts are stored (acked) although Telegram refuses the token.
    agent = connectRawAgent({ port, ca: pki.ca, ...(await pki.issueAgent("web-1")) });
    agent.hello({ agentId: "web-1", actions: [] });
    await agent.waitFor((m) => m.payload.case === "welcome", 15_000);
    const alert = sshAlert();
    agent.send({ payload: { case: "alert", value: alert } });
    await agent.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === alert.id, 15_000);

    await until("the refusal in the log", () => log.some((l) => l.includes("telegram: token refused (401): check TELEGRAM_BOT_TOKEN")), 15_000);
    expect(log.join("\n")).to.not.include("not-the-right-token");

    const refused = await secarc(["status", "--socket", socket]);
    expect(refused.code, refused.stdout + refused.stderr).to.equal(1);
    expect(refused.stdout).to.include("telegram: token refused (401): check TELEGRAM_BOT_TOKEN");
    expect(refused.stdout).to.match(/web-1\s+online/);
    const json = await secarc(["status", "--socket", socket, "--json"]);
    const report = JSON.parse(json.stdout) as StatusReport;
    expect(json.code).to.equal(1);
    expect(report.telegram.state).to.equal("token_refused");
    expect(report.problems).to.include("telegram: token refused (401): check TELEGRAM_BOT_TOKEN");
    expect(report.store.openAlerts).to.equal(1);
    expect(api.messagesIn(CHAT)).to.have.length(0);
    const metricsPort = Number(log.map((l) => /"port":(\d+).*metrics served/.exec(l)?.[1]).find(Boolean));
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).to.include('secarc_telegram_connection{state="token_refused",detail="telegram: token refused (401): check TELEGRAM_BOT_TOKEN"} 1');

    // The operator fixes the environment file and reloads: no restart, the stream stays.
    writeFileSync(envFile, `TELEGRAM_BOT_TOKEN=${api.token}\n`);
    controller!.kill("SIGHUP");
    const shown = await api.waitFor(() => api.messagesIn(CHAT).find((m) => m.text.includes("New SSH login")), 30_000);
    expect(shown.text).to.include("198.51.100.7");
    const ok = await until("status to turn OK", async () => {
      const result = await secarc(["status", "--socket", socket, "--json"]);
      return result.code === 0 ? result : undefined;
    }, 20_000);
    expect((JSON.parse(ok.stdout) as StatusReport).telegram.state).to.equal("ok");
    // Same stream: one Welcome, never ended.
    expect(agent.received.filter((m) => m.payload.case === "welcome")).to.have.length(1);
    expect(api.commands.map((c) => c.command)).to.include("status");
  });

  it("an invalid config on SIGHUP is refused with the reason and the running one stays", async () => {
    const envFile = join(dir, "controller.env");
    writeFileSync(envFile, `TELEGRAM_BOT_TOKEN=${api.token}\n`);
    const socket = join(dir, "admin.sock");
    const config: ControllerConfigInput = {
      listen: { host: "127.0.0.1", port: 0 },
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
      store: { path: join(dir, "controller.db") },
      admin: { socket },
      telegram: { apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [77] },
    };
    await startController(config, envFile);
    await until("Telegram OK", async () => (await secarc(["status", "--socket", socket])).code === 0, 20_000);
    writeFileSync(join(dir, "controller.json"), JSON.stringify({ ...config, telegram: { ...config.telegram, chats: [{ id: "not-a-chat" }] } }));
    controller!.kill("SIGHUP");
    const refusal = await until("the refused reload", () => log.find((l) => l.includes("config reload refused")), 15_000);
    expect(refusal).to.include("telegram.chats.0.id");
    const status = await secarc(["status", "--socket", socket, "--json"]);
    expect(status.code).to.equal(0);
    expect(controller!.exitCode).to.equal(null);
  });
});
