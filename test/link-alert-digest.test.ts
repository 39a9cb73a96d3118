import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { AlertKind, AlertState } from "../gen/secarc/v1/alert_pb.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { sshAlert, testControllerConfig } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { givenResponders } from "./support/given-responders.js";

/**
 * Issue 17 item 3, the agent's rate limit: a flood above alerts.maxPerMinute
 * reaches the controller (real mutual TLS on loopback, real SQLite) as the
 * alerts under the limit plus one digest alert that counts the others.
 */
describe("link: an alert flood is folded into a counted digest", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;

  before(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-link-digest-"));
  });
  after(async () => {
    await agent?.close();
    await controller?.close();
    rmSync(dir, { recursive: true, force: true });
    await pki.cleanup();
  });

  it("40 alerts at once with maxPerMinute 5: 5 stored one by one, one digest counting 35, resolved once the flood is over", async () => {
    const port = await freeLoopbackPort();
    controller = await startController({ config: testControllerConfig(pki, dir, { listen: { host: "127.0.0.1", port } }), logger: silentLogger() });
    const certs = await pki.issueAgent("flood-1");
    const input = { ...testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "agent-state"), port }), alerts: { maxPerMinute: 5, digestInterval: "1s" } };
    agent = await startAgent({ config: parseConfig(agentConfigSchema, input, "test"), logger: silentLogger(), detectors: () => [], responders: givenResponders(respondersFor(createRecordingResponder())) });
    await agent.waitConnected(10_000);
    const flood = Array.from({ length: 40 }, () => sshAlert());
    for (const alert of flood) agent.emit(alert);
    const store = controller.store;
    const stored = async () => {
      const found = await Promise.all(flood.map(async (a) => ((await store.getAlert(a.id)) !== undefined ? a.id : undefined)));
      return found.filter((id) => id !== undefined);
    };
    await eventually("the digest is stored", async () => (await store.listOpenAlertsOfKind(AlertKind.ALERTS_FOLDED)).length > 0 || (await stored()).length > 5);
    const digestId = (await store.listOpenAlertsOfKind(AlertKind.ALERTS_FOLDED))[0]?.alertId;
    expect(digestId, "an open digest").to.be.a("string");
    await eventually("the digest resolves with the whole count", async () => (await store.getAlert(digestId!))?.alert.state === AlertState.RESOLVED, 20_000);
    const digest = (await store.getAlert(digestId!))!.alert;
    if (digest.subject.case !== "alertsFolded") throw new Error(`digest subject ${digest.subject.case}`);
    expect(digest.subject.value.count).to.equal(35);
    expect(digest.subject.value.kinds.map((k) => [k.kind, k.count])).to.deep.equal([[AlertKind.SSH_SESSION, 35]]);
    expect(digest.subject.value.maxPerMinute).to.equal(5);
    expect(await stored()).to.deep.equal(flood.slice(0, 5).map((a) => a.id));
    await eventually("the outbox is empty", () => agent!.outboxDepth() === 0);
  });
});
