import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Database from "better-sqlite3";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { sshAlert, testControllerConfig } from "./support/controller-harness.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { givenResponders } from "./support/given-responders.js";

/** Rows of the controller's alerts table for one alert id, read straight from its SQLite file. */
function storedAlertRows(storePath: string, alertId: string): number {
  const db = new Database(storePath, { readonly: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM alerts WHERE alert_id = ?").get(alertId) as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * Issue 3 acceptance 2: the controller, in a process of its own, is killed
 * with SIGKILL right after it stored an alert and before it acked it (its
 * test-only crash hook); the agent resends after the controller is back and
 * the store still holds the alert exactly once.
 */
describe("link: controller SIGKILLed between store and ack", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let agent: RunningAgent | undefined;
  let crashing: ControllerProcess | undefined;
  let controller: RunningController | undefined;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-link-ctl-crash-"));
  });
  afterEach(async () => {
    await agent?.close();
    crashing?.kill("SIGKILL");
    await controller?.close();
    agent = undefined;
    crashing = undefined;
    controller = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("2. the agent resends the unacknowledged alert and the store holds exactly one", async () => {
    const port = await freeLoopbackPort();
    const storePath = join(dir, "controller.db");
    crashing = await startControllerProcess({
      config: {
        listen: { host: "127.0.0.1", port },
        tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
        store: { path: storePath },
        log: { level: "warn" },
      },
      env: { SECARC_TEST_CRASH_AFTER_STORE: "1" },
    });
    const certs = await pki.issueAgent("ctl-crash-2");
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "agent-state"), port }), "test");
    agent = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    await agent.waitConnected(15_000);

    const alert = sshAlert();
    agent.emit(alert);
    expect(await crashing.stopped, "controller exit code (null: killed by a signal)").to.equal(null);
    expect(storedAlertRows(storePath, alert.id), "stored before the crash").to.equal(1);
    expect(agent.outboxDepth(), "not acknowledged").to.equal(1);
    await eventually("the agent notices the controller is gone", () => !agent!.isConnected());

    controller = await startController({ config: testControllerConfig(pki, dir, { listen: { host: "127.0.0.1", port }, store: { path: storePath } }), logger: silentLogger() });
    await agent.waitConnected(15_000);
    await eventually("the resent alert is acknowledged", () => agent!.outboxDepth() === 0, 15_000);
    const stored = (await controller.store.listOpenAlerts(100)).filter((r) => r.agentId === "ctl-crash-2");
    expect(stored.map((r) => r.alertId)).to.deep.equal([alert.id]);
    expect(storedAlertRows(storePath, alert.id)).to.equal(1);
  });
});
