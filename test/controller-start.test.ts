import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";

/**
 * What a controller settles at start: the agents a previous run saw online
 * lost their streams with it, and are recorded offline — all of them in one
 * commit, before the link listens.
 */
describe("controller start: the previous run's agents", function () {
  this.timeout(30_000);
  let pki: TestPki;
  let dir: string;
  let controller: RunningController | undefined;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-controller-start-"));
  });
  afterEach(async () => {
    await controller?.close();
    controller = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("agents online when the previous run ended are offline after the start, seen last then; those offline keep their time", async () => {
    const config = testControllerConfig(pki, dir);
    controller = await startController({ config, logger: silentLogger() });
    const connected = (agentId: string, at: number) =>
      controller!.store.agentConnected({ agentId, version: "1", hostname: agentId, addresses: [], actions: [], detectors: [], at: new Date(at) });
    for (let i = 0; i < 300; i += 1) await connected(`web-${String(i).padStart(3, "0")}`, 1_000);
    await connected("db-1", 1_000);
    await controller.store.agentDisconnected("db-1", new Date(2_000));
    // The process dies with its streams: nothing recorded them offline.
    await controller.close();
    const restartedAt = Date.now();
    controller = await startController({ config, logger: silentLogger() });
    const agents = await controller.store.listAgentStates();
    expect(agents).to.have.length(301);
    const web = agents.filter((a) => a.agentId.startsWith("web-"));
    expect(web.every((a) => !a.online), "every agent of the previous run is offline").to.equal(true);
    expect(new Set(web.map((a) => a.lastSeen.getTime())).size).to.equal(1);
    expect(web[0]!.lastSeen.getTime()).to.be.at.least(restartedAt);
    expect(agents.find((a) => a.agentId === "db-1")).to.deep.include({ online: false, lastSeen: new Date(2_000) });
  });
});
