import { expect } from "chai";
import { createGoFleet } from "../bench/link-load-go.js";
import { createLinkBenchSetup, type LinkBenchSetup } from "../bench/link-setup.js";
import type { WorkerFleet } from "../bench/link-load-workers.js";
import type { ControllerProcess } from "./support/controller-process.js";

// The link and replicas benchmarks count on their load: that every agent
// connects, that every alert it sends is acked and stored once, and that it
// comes back after a restart with its TLS session resumed. A load that got
// any of these wrong would make the benchmarks' figures wrong, not fail them.
describe("the benchmarks' Go load (bench/go-load)", function () {
  this.timeout(240_000);
  const AGENTS = 20;
  let setup: LinkBenchSetup | undefined;
  let controller: ControllerProcess | undefined;
  let fleet: WorkerFleet | undefined;

  afterEach(async () => {
    await fleet?.closeAll();
    controller?.kill("SIGKILL");
    await controller?.stopped;
    setup?.remove();
    fleet = controller = setup = undefined;
  });

  it("connects every agent, has each alert of a burst stored once, and brings every agent back after a restart with its TLS session resumed", async () => {
    setup = await createLinkBenchSetup(AGENTS, "secarc-go-load-test-", { slots: false });
    const go = await createGoFleet(setup.pki, setup.dir);
    fleet = go;
    controller = await setup.startController(0);
    const port = controller.port;
    await go.setEndpoints([port]);
    await go.connectAll(60_000, 5);
    expect(go.welcomed()).to.equal(AGENTS);
    expect(go.welcomedOn(port)).to.equal(AGENTS);
    await go.burst(AGENTS, 5, 60_000);
    expect(go.unacked()).to.equal(0);
    expect(go.connectTimes()).to.match(/^dial → TLS done p50 \d+ ms/);

    go.setReconnect(true);
    const resumedBefore = go.resumed();
    controller.kill("SIGTERM");
    await controller.stopped;
    controller = await setup.startController(port);
    await go.until(() => go.welcomed() >= AGENTS, `${AGENTS} agents back`, 60_000);
    expect(go.resumed() - resumedBefore, "every agent resumed its TLS session").to.be.at.least(AGENTS);
    await go.burst(AGENTS, 1, 60_000);
    expect(go.rejects()).to.equal(0);

    const ids = await go.issuedIds();
    expect(new Set(ids).size).to.equal(AGENTS * 6);
    await go.closeAll();
    fleet = undefined;
    controller.kill("SIGTERM");
    await controller.stopped;
    expect(await setup.storedAlerts()).to.equal(AGENTS * 6);
  });
});
