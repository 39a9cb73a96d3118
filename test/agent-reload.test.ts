import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfigInput } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { eventually, testAgentConfig } from "./support/agent-process.js";
import { captureLog, startControllerHarness, type ControllerHarness } from "./support/controller-harness.js";
import { givenResponders } from "./support/given-responders.js";

function nginxLines(ip: string, count: number, at = new Date()): string {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  const t = `${p(at.getUTCDate())}/${months[at.getUTCMonth()]}/${at.getUTCFullYear()}:${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())} +0000`;
  return Array.from({ length: count }, (_, i) => `${ip} - - [${t}] "GET /nope-${i} HTTP/1.1" 404 10 "-" "x"\n`).join("");
}

/** Issue 13 item 6, agent side: a reload puts new detector thresholds in force; the stream stays up. */
describe("agent reload (SIGHUP)", function () {
  this.timeout(40_000);
  let h: ControllerHarness;
  let agent: RunningAgent | undefined;
  beforeEach(async () => {
    h = await startControllerHarness();
  });
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
    await h.cleanup();
  });

  it("new 404 thresholds take effect without a reconnect; keys read at start are named as needing a restart", async () => {
    const accessLog = join(h.dir, "access.log");
    writeFileSync(accessLog, "");
    const certs = await h.pki.issueAgent("web-1");
    const detectors = (warning: number) => ({
      sshSession: { enabled: false },
      sshBruteForce: { enabled: false },
      cpuSustained: { enabled: false },
      nginx404: { accessLog, warning, critical: warning * 2 },
      pollInterval: "100ms",
    });
    const input: AgentConfigInput = { ...testAgentConfig({ ca: h.pki.ca, ...certs, stateDir: join(h.dir, "agent"), port: h.controller.port }), detectors: detectors(20) };
    const log = captureLog();
    const config = parseConfig(agentConfigSchema, input, "test");
    agent = await startAgent({ config, logger: log.logger, responders: givenResponders(new Map()) });
    await agent.waitConnected(15_000);
    const connects = (await h.controller.store.getAgent("web-1"))!.connects;

    // 5 404s: below the running threshold of 20.
    await new Promise((r) => setTimeout(r, 300));
    appendFileSync(accessLog, nginxLines("203.0.113.9", 5));
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await h.controller.store.listOpenAlerts(10))).to.have.length(0);

    const needRestart = await agent.reload(parseConfig(agentConfigSchema, { ...input, detectors: detectors(3), link: { ...input.link, backoffMax: "1s" } }, "test"));
    expect(needRestart).to.deep.equal(["link"]);
    expect(log.matching("link changed and take effect after a restart")).to.have.length(1);
    await new Promise((r) => setTimeout(r, 300));
    appendFileSync(accessLog, nginxLines("203.0.113.10", 5));
    await eventually("an alert at the new threshold", async () => (await h.controller.store.listOpenAlerts(10)).some((a) => a.alert.kind === AlertKind.HTTP_404_BURST), 15_000);
    expect((await h.controller.store.getAgent("web-1"))!.connects).to.equal(connects);
    expect(agent.isConnected()).to.equal(true);
  });

  it("an invalid detector section on reload throws and the running detectors stay", async () => {
    const certs = await h.pki.issueAgent("web-2");
    const input = { ...testAgentConfig({ ca: h.pki.ca, ...certs, stateDir: join(h.dir, "agent2"), port: h.controller.port }), detectors: { sshSession: { enabled: false }, sshBruteForce: { enabled: false }, nginx404: { enabled: false }, cpuSustained: { interval: "30s" } } };
    agent = await startAgent({ config: parseConfig(agentConfigSchema, input, "test"), logger: silentLogger(), responders: givenResponders(new Map()) });
    await agent.waitConnected(15_000);
    // The schema refuses it before the agent sees it: what the SIGHUP handler logs as "config reload refused".
    expect(() => parseConfig(agentConfigSchema, { ...input, detectors: { cpuSustained: { interval: "7s" } } }, "agent.yaml")).to.throw(/detectors\.cpuSustained\.interval/);
    expect(agent.isConnected()).to.equal(true);
  });
});
