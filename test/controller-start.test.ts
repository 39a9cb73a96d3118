import { expect } from "chai";
import { startControllerHarness, type ControllerHarness } from "./support/controller-harness.js";

/**
 * What a controller settles at start: the agents a previous run saw online
 * lost their streams with it, and are recorded offline — all of them in one
 * commit, before the link listens.
 */
describe("controller start: the previous run's agents", function () {
  this.timeout(30_000);
  let harness: ControllerHarness | undefined;
  afterEach(async () => {
    await harness?.cleanup();
    harness = undefined;
  });

  it("agents online when the previous run ended are offline after the start, seen last then; those offline keep their time", async () => {
    harness = await startControllerHarness();
    const { store } = harness.controller;
    const connected = (agentId: string, at: number) => store.agentConnected({ agentId, version: "1", hostname: agentId, addresses: [], actions: [], detectors: [], at: new Date(at) });
    for (let i = 0; i < 300; i += 1) await connected(`web-${String(i).padStart(3, "0")}`, 1_000);
    await connected("db-1", 1_000);
    await store.agentDisconnected("db-1", new Date(2_000));
    // The process dies with its streams: nothing recorded them offline.
    const restartedAt = Date.now();
    const again = await harness.restart();
    const agents = await again.store.listAgentStates();
    expect(agents).to.have.length(301);
    const web = agents.filter((a) => a.agentId.startsWith("web-"));
    expect(web.every((a) => !a.online), "every agent of the previous run is offline").to.equal(true);
    expect(new Set(web.map((a) => a.lastSeen.getTime())).size).to.equal(1);
    expect(web[0]!.lastSeen.getTime()).to.be.at.least(restartedAt);
    expect(agents.find((a) => a.agentId === "db-1")).to.deep.include({ online: false, lastSeen: new Date(2_000) });
  });
});
