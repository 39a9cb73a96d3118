import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { stringify } from "yaml";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { eventually, freeLoopbackPort } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";

const SECARC = fileURLToPath(new URL("../bin/secarc.js", import.meta.url));

function runSecarc(args: string[]): { exited: Promise<{ code: number | null; stderr: string }>; kill(signal: NodeJS.Signals): void; stderr(): string } {
  const child = spawn(process.execPath, [SECARC, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return {
    exited: new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr }))),
    kill: (signal) => void child.kill(signal),
    stderr: () => stderr,
  };
}

describe("secarc agent (command line)", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let controller: RunningController | undefined;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-agent-cli-"));
  });
  afterEach(async () => {
    await controller?.close();
    controller = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("connects from a YAML config and stops cleanly on SIGTERM", async () => {
    const port = await freeLoopbackPort();
    controller = await startController({ config: testControllerConfig(pki, dir, { listen: { host: "127.0.0.1", port } }), logger: silentLogger() });
    const certs = await pki.issueAgent("cli-agent");
    const configPath = join(dir, "agent.yaml");
    writeFileSync(
      configPath,
      stringify({
        controller: { address: `localhost:${port}` },
        tls: { ca: pki.ca, cert: certs.cert, key: certs.key },
        stateDir: join(dir, "state"),
        link: { backoffInitial: "100ms", backoffMax: "1s" },
        detectors: { sshSession: { enabled: false }, sshBruteForce: { enabled: false }, cpuSustained: { enabled: false }, nginx404: { enabled: false } },
        log: { level: "info" },
      }),
    );
    const agent = runSecarc(["agent", "--config", configPath]);
    await eventually("the agent is welcomed", () => agent.stderr().includes("connected to the controller"), 30_000);
    expect(controller.onlineAgents()).to.include("cli-agent");
    agent.kill("SIGTERM");
    const { code, stderr } = await agent.exited;
    expect(code, stderr).to.equal(0);
    expect(stderr).to.contain("agent stopped");
    await eventually("the agent is offline", () => !controller!.onlineAgents().includes("cli-agent"));
  });

  it("refuses a config with an unknown key, naming it", async () => {
    const configPath = join(dir, "bad.yaml");
    writeFileSync(configPath, stringify({ controller: { address: "127.0.0.1:1" }, tls: { ca: "a", cert: "b", key: "c" }, link: { backoff: "1s" } }));
    const { code, stderr } = await runSecarc(["agent", "--config", configPath]).exited;
    expect(code).to.equal(1);
    expect(stderr).to.contain("link.backoff: unknown key");
  });
});
