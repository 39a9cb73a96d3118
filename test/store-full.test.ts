import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import type { SqliteStore } from "../controller/store/sqlite-store.js";
import { respondersFor, createRecordingResponder } from "./fixtures/agent/recording-responder.js";
import { eventually, testAgentConfig } from "./support/agent-process.js";
import { captureLog, sshAlert, testControllerConfig } from "./support/controller-harness.js";
import { useTelegramWorld } from "./support/telegram-world.js";
import { givenResponders } from "./support/given-responders.js";

const CHAT = 4242;
const OPERATOR = 1001;

/** Writes zeros into `path` until the file system is full; returns the bytes written. */
function fillDisk(path: string): number {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (let i = 0; i < 100_000; i += 1) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

/**
 * Issue 19 acceptance 1: the controller's store on a small tmpfs, filled
 * during an alert flood. No crash, acks stop (the agent keeps its alerts),
 * the log and /metrics say "store full"; after space returns every alert is
 * stored once and shown once at the fake Bot API. Needs root (mount).
 */
describe("controller store on a full disk: a state, not a crash", function () {
  this.timeout(120_000);
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;
  let mountPoint: string | undefined;
  const world = useTelegramWorld("secarc-store-full-", async () => {
    await agent?.close();
    agent = undefined;
    await controller?.close();
    controller = undefined;
    if (mountPoint) execFileSync("umount", [mountPoint]);
    mountPoint = undefined;
  });

  it("stops acking while the store is full and delivers every alert once after space returns", async function () {
    if (process.getuid?.() !== 0) throw new Error("this test needs root (mount -t tmpfs); CI runs as root");
    mountPoint = join(world.dir, "store");
    mkdirSync(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", mountPoint]);
    const log = captureLog();
    const config = testControllerConfig(world.pki, world.dir, {
      store: { path: join(mountPoint, "controller.db") },
      metrics: { listen: { host: "127.0.0.1", port: 0 } },
      telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR], pace: { perChat: "10ms" }, digestThreshold: 10_000 },
    });
    controller = await startController({ config, logger: log.logger });
    const certs = await world.pki.issueAgent("flood-1");
    const agentConfig = parseConfig(agentConfigSchema, testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, "agent"), port: controller.port }), "test");
    agent = await startAgent({ config: agentConfig, logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    await agent.waitConnected(10_000);

    const ids: string[] = [];
    const emit = (count: number) => {
      for (let i = 0; i < count; i += 1) {
        const alert = sshAlert();
        ids.push(alert.id);
        agent!.emit(alert);
      }
    };
    emit(40);
    await eventually("the first 40 are acked", () => agent!.outboxDepth() === 0, 20_000);

    // The flood goes on while the disk fills up.
    emit(20);
    const filled = fillDisk(join(mountPoint, "filler"));
    expect(filled).to.be.greaterThan(0);
    for (let round = 0; round < 5; round += 1) {
      emit(20);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await eventually("the controller says the store is full", () => controller!.storeHealth().state === "failing", 20_000);
    const waiting = agent.outboxDepth();
    expect(waiting, "acks stopped: the agent keeps the alerts not stored").to.be.greaterThan(0);
    expect(log.matching("store full").length).to.be.greaterThan(0);
    const failingLine = log.lines.find((line) => line.store === "failing");
    expect(String(failingLine?.msg)).to.match(new RegExp(`store full: \\d+ MiB free on ${mountPoint}`));
    const metrics = await (await fetch(`http://127.0.0.1:${controller.metricsPort}/metrics`)).text();
    expect(metrics).to.match(/secarc_store_writable 0/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(agent.outboxDepth(), "still nothing acked while full").to.be.at.least(waiting);

    // Space returns: the controller resumes by itself.
    rmSync(join(mountPoint, "filler"));
    await eventually("every alert is acked", () => agent!.outboxDepth() === 0, 60_000);
    expect(controller.storeHealth().state).to.not.equal("failing");
    const db = (controller.store as SqliteStore).db;
    const stored = db.prepare("SELECT alert_id FROM alerts WHERE agent_id = 'flood-1'").all() as Array<{ alert_id: string }>;
    expect(stored.map((row) => row.alert_id).sort()).to.deep.equal([...ids].sort());

    // Shown once each: one sendMessage per alert, one message row per alert, distinct message ids.
    const isAlertMessage = (text: string) => !text.includes("SecARC controller:");
    await eventually("every alert is shown", () => world.api.messages.filter((m) => m.chatId === CHAT && isAlertMessage(m.text)).length >= ids.length, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const shown = world.api.messages.filter((m) => m.chatId === CHAT && isAlertMessage(m.text));
    expect(shown).to.have.length(ids.length);
    const rows = db.prepare("SELECT alert_id, message_id FROM telegram_messages WHERE chat_id = ?").all(CHAT) as Array<{ alert_id: string; message_id: number | null }>;
    expect(rows.map((row) => row.alert_id).sort()).to.deep.equal([...ids].sort());
    expect(new Set(rows.map((row) => row.message_id)).size).to.equal(ids.length);
    const warnings = world.api.messages.filter((m) => m.chatId === CHAT && m.text.includes("store full"));
    expect(warnings, "one Telegram warning").to.have.length(1);
  });
});
