import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { sshAlert } from "./support/controller-harness.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { givenResponders } from "./support/given-responders.js";

/**
 * A controller that stops answering without closing its connection (the
 * process is frozen with SIGSTOP, as a hung host would be): the agent's
 * HTTP/2 keepalive pings go unanswered, it drops the connection within
 * keepaliveTime + keepaliveTimeout, and reconnects once the controller
 * runs again (SIGCONT).
 */
describe("link keepalive: a frozen controller", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let agent: RunningAgent | undefined;
  let controller: ControllerProcess | undefined;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-link-keepalive-"));
  });
  afterEach(async () => {
    controller?.kill("SIGCONT");
    await agent?.close();
    controller?.kill("SIGKILL");
    await controller?.stopped;
    agent = undefined;
    controller = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("is detected by unanswered pings, and the agent reconnects when it thaws", async () => {
    const port = await freeLoopbackPort();
    controller = await startControllerProcess({
      config: {
        listen: { host: "127.0.0.1", port },
        tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
        store: { path: join(dir, "controller.db") },
        link: { heartbeatInterval: "30s" },
        log: { level: "warn" },
      },
    });
    const certs = await pki.issueAgent("keepalive-1");
    const input = testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "agent-state"), port });
    const config = parseConfig(agentConfigSchema, { ...input, link: { ...input.link, keepaliveTime: "1s", keepaliveTimeout: "1s" } }, "test");
    agent = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map()) });
    await agent.waitConnected(15_000);

    controller.kill("SIGSTOP");
    const frozenAt = Date.now();
    await eventually("the agent drops the frozen connection", () => !agent!.isConnected(), 15_000);
    const detectedMs = Date.now() - frozenAt;
    expect(detectedMs, "detection time").to.be.below(10_000);

    const alert = sshAlert();
    agent.emit(alert);
    expect(agent.outboxDepth()).to.equal(1);
    controller.kill("SIGCONT");
    await agent.waitConnected(20_000);
    await eventually("the alert emitted meanwhile is acknowledged", () => agent!.outboxDepth() === 0, 15_000);
  });
});
