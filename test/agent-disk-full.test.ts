import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { captureLog, sshAlert, startControllerHarness, type ControllerHarness } from "./support/controller-harness.js";
import { respondersFor, createRecordingResponder } from "./fixtures/agent/recording-responder.js";
import { eventually, testAgentConfig } from "./support/agent-process.js";
import type { SqliteStore } from "../controller/store/sqlite-store.js";
import { givenResponders } from "./support/given-responders.js";

function fillDisk(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let i = 0; i < 100_000; i += 1) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}

/**
 * Issue 19 acceptance 2: the agent's state dir (on a small tmpfs) is full.
 * No crash (acks that cannot be written are retried, not thrown from a
 * timer); alerts raised meanwhile — while connected and while the
 * controller is down — are delivered, each once. Needs root (mount).
 */
describe("agent state dir full: alerts held in memory, delivered once", function () {
  this.timeout(90_000);
  let h: ControllerHarness | undefined;
  let agent: RunningAgent | undefined;
  let mountPoint: string | undefined;

  afterEach(async () => {
    await agent?.close();
    agent = undefined;
    if (mountPoint) execFileSync("umount", [mountPoint]);
    mountPoint = undefined;
    await h?.cleanup();
    h = undefined;
  });

  it("keeps running, holds what it cannot write, and delivers every alert once", async () => {
    if (process.getuid?.() !== 0) throw new Error("this test needs root (mount -t tmpfs); CI runs as root");
    h = await startControllerHarness();
    mountPoint = join(h.dir, "agent-state");
    mkdirSync(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mountPoint]);
    const certs = await h.pki.issueAgent("full-1");
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: h.pki.ca, cert: certs.cert, key: certs.key, stateDir: mountPoint, port: h.controller.port }), "test");
    const log = captureLog();
    agent = await startAgent({ config, logger: log.logger, detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    await agent.waitConnected(10_000);

    const ids: string[] = [];
    const emit = (count: number) => {
      for (let i = 0; i < count; i += 1) {
        const alert = sshAlert();
        ids.push(alert.id);
        agent!.emit(alert);
      }
    };
    emit(10);
    await eventually("the first alerts are acked", () => agent!.outboxDepth() === 0);

    fillDisk(join(mountPoint, "filler"));
    // Connected: alerts the outbox cannot take are sent live; the acks that cannot be written are retried.
    emit(30);
    await eventually("the live alerts are stored", async () => (await Promise.all(ids.map((id) => h!.controller.store.getAlert(id)))).every((record) => record !== undefined), 20_000);
    await eventually("the outbox write failure is logged", () => log.matching("held in memory").length > 0);

    // Controller down: alerts raised now stay in memory until it is back.
    const port = h.controller.port;
    await h.controller.close();
    emit(30);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(agent.outboxDepth()).to.be.at.least(30);
    await h.restart();
    expect(h.controller.port).to.equal(port);
    await agent.waitConnected(15_000);
    await eventually("every alert is stored", async () => (await Promise.all(ids.map((id) => h!.controller.store.getAlert(id)))).every((record) => record !== undefined), 20_000);

    // Space returns: whatever is still held or unacked is written and flows; nothing is lost or doubled.
    rmSync(join(mountPoint, "filler"));
    await eventually("the outbox is empty", () => agent!.outboxDepth() === 0, 20_000);
    const rows = (h.controller.store as SqliteStore).db.prepare("SELECT alert_id, revision FROM alerts WHERE agent_id = 'full-1'").all() as Array<{ alert_id: string; revision: number }>;
    expect(rows.map((row) => row.alert_id).sort()).to.deep.equal([...ids].sort());
    expect(log.matching("dropped")).to.deep.equal([]);
    expect(agent.isConnected()).to.equal(true);
  });
});
