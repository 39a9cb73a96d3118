import { spawn, type ChildProcess } from "node:child_process";
import { chownSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem, uptime } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { startAgent } from "../agent/agent.js";
import { CAP_KILL, CAP_SYS_BOOT } from "../agent/capabilities.js";
import { agentConfigSchema, type AgentConfigInput } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { renderStatus } from "../controller/telegram/command-views.js";
import { translations } from "../controller/telegram/i18n/translations.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { exited } from "./support/child-exit.js";
import { letOthersThrough } from "./support/service-user.js";
import { eventually, testAgentConfig } from "./support/agent-process.js";
import { startControllerHarness, type ControllerHarness } from "./support/controller-harness.js";
import { createHostResponders } from "../agent/agent-responders.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NOBODY = 65534;
const NO_NET_ADMIN = "no CAP_NET_ADMIN: cannot change the firewall (run the agent as root, or give it CAP_NET_ADMIN)";

/** Issue 13 item 4: the agent offers only the answers its rights let it carry out, and says why. */
describe("agent rights probe: answers it cannot carry out are not offered", function () {
  this.timeout(60_000);
  let h: ControllerHarness;
  let child: ChildProcess | undefined;
  let restoreModes: (() => void) | undefined;
  beforeEach(async () => {
    h = await startControllerHarness();
  });
  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      if (!(await exited(child, 15_000))) child.kill("SIGKILL");
    }
    child = undefined;
    restoreModes?.();
    restoreModes = undefined;
    await h.cleanup();
  });

  it("an agent run as a non-root user (runuser -u nobody) advertises no Block IP, and says why at start, in Hello and in /status", async () => {
    // The agent's files, owned by nobody as they would be for a service user.
    const home = join(h.dir, "nobody");
    mkdirSync(join(home, "state"), { recursive: true });
    const certs = await h.pki.issueAgent("web-1");
    const cert = join(home, "web-1.pem");
    const key = join(home, "web-1-key.pem");
    copyFileSync(certs.cert, cert);
    copyFileSync(certs.key, key);
    const ca = join(home, "ca.pem");
    copyFileSync(h.pki.ca, ca);
    const config: AgentConfigInput = {
      ...testAgentConfig({ ca, cert, key, stateDir: join(home, "state"), port: h.controller.port, logLevel: "info" }),
      detectors: {
        sshSession: { enabled: false },
        sshBruteForce: { enabled: false },
        cpuSustained: { enabled: false },
        nginx404: { enabled: false },
      },
    };
    const configPath = join(home, "agent.json");
    writeFileSync(configPath, JSON.stringify(config));
    for (const path of [home, join(home, "state"), cert, key, ca, configPath]) chownSync(path, NOBODY, NOBODY);
    chownSync(h.dir, NOBODY, NOBODY);
    restoreModes = letOthersThrough(ROOT);

    child = spawn("runuser", ["-u", "nobody", "--", process.execPath, join(ROOT, "bin", "secarc.js"), "agent", "--config", configPath], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: home },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const log: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => log.push(line));

    await eventually("the agent to connect", () => h.controller.onlineAgents().includes("web-1"), 30_000);
    const record = (await h.controller.store.getAgent("web-1"))!;
    expect(record.actions).to.not.include(Answer.BLOCK_IP);
    expect(record.actions).to.not.include(Answer.UNBLOCK_IP);
    expect(record.actions).to.include(Answer.ALLOW);
    expect(record.unavailableAnswers).to.deep.include({ answer: Answer.BLOCK_IP, reason: NO_NET_ADMIN });
    expect(record.unavailableAnswers.map((u) => u.answer)).to.include.members([Answer.CLOSE_SESSION, Answer.KILL_PROCESS, Answer.REBOOT, Answer.SHUTDOWN]);
    const said = log.find((l) => l.includes("answers not offered: BLOCK_IP, UNBLOCK_IP"));
    expect(said, log.join("\n")).to.include(NO_NET_ADMIN);

    const status = renderStatus([record], undefined, translations.en);
    expect(status).to.include(`🚫 not offered: Block IP, Unblock (${NO_NET_ADMIN})`);
    expect(renderStatus([record], undefined, translations.es)).to.include("🚫 no se ofrece: Bloquear IP");

    // Hello 10: the host facts the agent knew at its Hello (node:os's at once; systeminformation's may follow on a later Hello).
    const host = record.hostFacts!;
    expect(host, "host facts stored").to.not.equal(undefined);
    expect([host.kernel, host.architecture, host.memoryTotalBytes, host.cpuCores]).to.deep.equal([release(), process.arch, totalmem(), cpus().length]);
    expect(Math.abs(host.bootedAt!.getTime() - (Date.now() - uptime() * 1000))).to.be.below(120_000);
    expect(status).to.include(`🖥 `).and.to.include(`kernel ${release()} ${process.arch}`);
  });

  it("with injected probe inputs: CAP_KILL and CAP_SYS_BOOT but no CAP_NET_ADMIN drops only the firewall answers; dryRun drops nothing", async () => {
    const certs = await h.pki.issueAgent("web-2");
    const base = testAgentConfig({ ca: h.pki.ca, ...certs, stateDir: join(h.dir, "web-2"), port: h.controller.port });
    const facts = { effective: (1n << BigInt(CAP_KILL)) | (1n << BigInt(CAP_SYS_BOOT)), uid: 1000, hasProgram: () => true };
    const agent = await startAgent({ config: parseConfig(agentConfigSchema, base, "test"), logger: silentLogger(), detectors: () => [], responders: (context) => createHostResponders(context, { capabilities: facts }) });
    try {
      await agent.waitConnected(15_000);
      const record = (await h.controller.store.getAgent("web-2"))!;
      expect(record.unavailableAnswers.map((u) => u.answer)).to.deep.equal([Answer.BLOCK_IP, Answer.UNBLOCK_IP]);
      expect(record.actions).to.include.members([Answer.REBOOT, Answer.CLOSE_SESSION, Answer.ALLOW]);
    } finally {
      await agent.close();
    }
    const dry = await startAgent({
      config: parseConfig(agentConfigSchema, { ...base, agentId: "web-2", responders: { dryRun: true } }, "test"),
      logger: silentLogger(),
      detectors: () => [],
      responders: (context) => createHostResponders(context, { capabilities: { effective: 0n, uid: 1000, hasProgram: () => false } }),
    });
    try {
      await dry.waitConnected(15_000);
      await eventually("the dry-run Hello", async () => (await h.controller.store.getAgent("web-2"))!.connects >= 2, 10_000);
      expect((await h.controller.store.getAgent("web-2"))!.unavailableAnswers).to.deep.equal([]);
      expect((await h.controller.store.getAgent("web-2"))!.actions).to.include(Answer.BLOCK_IP);
    } finally {
      await dry.close();
    }
  });
});
