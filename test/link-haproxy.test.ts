import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Database from "better-sqlite3";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { sshAlert } from "./support/controller-harness.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { givenResponders } from "./support/given-responders.js";
import { HAPROXY, startHaproxy, type HaproxyServer } from "./support/haproxy.js";
import { createTestPki, type TestPki } from "./support/pki.js";

/** Whether a controller process logged "agent connected" for `agentId` (its JSON log lines). */
function connectedCount(running: ControllerProcess, agentId: string): number {
  return running.log.filter((line) => line.includes('"agent connected"') && line.includes(`"agentId":"${agentId}"`)).length;
}

function storedCount(storePath: string, alertIds: string[]): number {
  const db = new Database(storePath, { readonly: true, fileMustExist: true });
  try {
    const count = db.prepare("SELECT COUNT(*) AS n FROM alerts WHERE alert_id = ?");
    return alertIds.reduce((sum, id) => sum + (count.get(id) as { n: number }).n, 0);
  } finally {
    db.close();
  }
}

/**
 * Issue 15 item 2, one name behind an L4 load balancer: Debian's HAProxy in
 * TCP mode (TLS passed through, the config of docs/operations.md) on
 * loopback in front of two real controllers; the agent names only
 * HAProxy. The controller holding the agent is killed with SIGKILL: the
 * agent reconnects through HAProxy to the other, and its unacked alerts
 * are stored there.
 */
describe("link through HAProxy (TCP mode, TLS passthrough)", function () {
  this.timeout(90_000);
  let pki: TestPki;
  let dir: string;
  let agent: RunningAgent | undefined;
  let haproxy: HaproxyServer | undefined;
  const controllers: ControllerProcess[] = [];

  before(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-link-haproxy-"));
  });
  after(async () => {
    await agent?.close();
    await haproxy?.stop();
    for (const running of controllers) {
      running.kill("SIGKILL");
      await running.stopped;
    }
    rmSync(dir, { recursive: true, force: true });
    pki.cleanup();
  });

  it("the config of docs/operations.md passes haproxy -c after Debian's own haproxy.cfg", () => {
    const docs = readFileSync(new URL("../docs/operations.md", import.meta.url), "utf8");
    const snippet = /```\n(# \/etc\/haproxy\/haproxy\.cfg[\s\S]*?)```/.exec(docs)?.[1];
    expect(snippet, "the HAProxy snippet in docs/operations.md").to.be.a("string");
    expect(snippet).to.include("mode tcp").and.include("on-marked-down shutdown-sessions");
    const path = join(dir, "documented.cfg");
    writeFileSync(path, `${readFileSync("/etc/haproxy/haproxy.cfg", "utf8")}\n${snippet}`);
    const checked = spawnSync(HAPROXY, ["-c", "-f", path], { encoding: "utf8" });
    expect(checked.status, checked.stdout + checked.stderr).to.equal(0);
  });

  it("the agent dials one name; after kill -9 of the controller behind it, HAProxy sends it to the other and nothing is lost", async () => {
    const stores: string[] = [];
    for (const name of ["a", "b"]) {
      const storePath = join(dir, `${name}.db`);
      stores.push(storePath);
      const port = await freeLoopbackPort();
      controllers.push(
        await startControllerProcess({ config: { listen: { host: "127.0.0.1", port }, tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key }, store: { path: storePath }, log: { level: "info" } } }),
      );
    }
    haproxy = await startHaproxy({ port: await freeLoopbackPort(), backends: controllers.map((c) => c.port) });
    const certs = await pki.issueAgent("behind-lb-1");
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "agent-state"), port: haproxy.port }), "test");
    expect(config.controller.address).to.deep.equal([`127.0.0.1:${haproxy.port}`]);
    agent = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    await agent.waitConnected(15_000);
    await eventually("one controller logs the agent connected", () => controllers.some((c) => connectedCount(c, "behind-lb-1") > 0), 10_000);
    const holder = controllers.findIndex((c) => connectedCount(c, "behind-lb-1") > 0);
    const survivor = 1 - holder;
    expect(connectedCount(controllers[survivor]!, "behind-lb-1"), "on one controller only").to.equal(0);

    const first = sshAlert();
    agent.emit(first);
    await eventually("acked through HAProxy", () => agent!.outboxDepth() === 0, 15_000);
    expect(storedCount(stores[holder]!, [first.id])).to.equal(1);

    controllers[holder]!.kill("SIGSTOP");
    const unacked = Array.from({ length: 10 }, () => sshAlert());
    for (const alert of unacked) agent.emit(alert);
    agent.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(agent.outboxDepth(), "unacked at the kill").to.equal(unacked.length);
    controllers[holder]!.kill("SIGKILL");
    const killedAt = Date.now();
    await controllers[holder]!.stopped;

    await eventually("the survivor logs the agent connected", () => connectedCount(controllers[survivor]!, "behind-lb-1") > 0, 30_000);
    const movedMs = Date.now() - killedAt;
    await eventually("the unacked alerts are acked by the survivor", () => agent!.outboxDepth() === 0, 20_000);
    expect(storedCount(stores[survivor]!, unacked.map((a) => a.id)), "every unacked alert stored once on the survivor").to.equal(unacked.length);
    expect(agent.controllerEndpoint(), "still the one name").to.equal(`127.0.0.1:${haproxy.port}`);
    expect(movedMs, "back within 20 s of the kill").to.be.below(20_000);
  });
});
