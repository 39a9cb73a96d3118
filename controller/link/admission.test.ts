import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { admitConnections } from "./admission.js";

describe("admitConnections: a reconnect herd let in a part at a time", function () {
  this.timeout(20_000);
  let server: Server;
  const clients: Socket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const listen = async () => {
    server = createServer(() => {});
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return (server.address() as { port: number }).port;
  };
  /** A client connection and whether the server closed it before `ms` passed. */
  const dial = async (port: number) => {
    const socket = connect(port, "127.0.0.1");
    clients.push(socket);
    socket.on("error", () => {});
    await once(socket, "connect");
    const closed = new Promise<boolean>((resolve) => socket.once("close", () => resolve(true)));
    return { socket, remote: `127.0.0.1:${socket.localPort}`, closedWithin: (ms: number) => Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), ms))]) };
  };

  it("refuses connections past maxOpening before any work, and lets the next one in once one is welcomed or gone", async () => {
    const port = await listen();
    const admission = admitConnections(server, { maxOpening: 2, welcomeWithinMs: 60_000, adjustEveryMs: 60_000, log: silentLogger() });
    const [a, b] = [await dial(port), await dial(port)];
    const c = await dial(port);
    expect(await c.closedWithin(2_000)).to.equal(true);
    expect(admission.stats()).to.deep.equal({ opening: 2, refused: 1, limit: 2 });
    admission.welcomed(a.remote);
    const d = await dial(port);
    expect(await d.closedWithin(300)).to.equal(false);
    expect(admission.stats()).to.deep.equal({ opening: 2, refused: 1, limit: 2 });
    // A welcomed connection does not count; an opening one that closes frees its place.
    b.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(admission.stats().opening).to.equal(1);
    const e = await dial(port);
    expect(await e.closedWithin(300)).to.equal(false);
    expect(await a.closedWithin(10)).to.equal(false);
    // The welcomed one leaving raises nothing: still two opening, the next is refused.
    const f = await dial(port);
    expect(await f.closedWithin(2_000)).to.equal(true);
    expect(admission.stats()).to.deep.equal({ opening: 2, refused: 2, limit: 2 });
    admission.stop();
  });

  it("on a busy controller: raises the limit while connections are welcomed in time and it refuses some; lowers it to what the rate sustains when Welcomes come late", async () => {
    const port = await listen();
    let clock = 0;
    const admission = admitConnections(server, { maxOpening: 64, initialOpening: 16, minOpening: 4, targetMs: 1_000, adjustEveryMs: 100, welcomeWithinMs: 60_000, monotonicNow: () => clock, loopUtilization: () => 1, log: silentLogger() });
    const first = [];
    for (let i = 0; i < 20; i += 1) first.push(await dial(port));
    await new Promise((r) => setTimeout(r, 300));
    expect(admission.stats()).to.include({ opening: 16, refused: 4, limit: 16 });
    // Welcomed 10 ms after their accept, with refusals in the same period: the limit grows (by 8 at least, by half at most).
    clock += 10;
    for (const c of first.slice(0, 16)) admission.welcomed(c.remote);
    await dial(port);
    await new Promise((r) => setTimeout(r, 150));
    expect(admission.stats().limit).to.equal(24);
    // Nothing refused since: it stays.
    await new Promise((r) => setTimeout(r, 250));
    expect(admission.stats().limit).to.equal(24);
    // The rate has fallen to nothing (one connection opening, no Welcome for a second), then one Welcome 5 s after its
    // accept: the limit falls to what that rate welcomes within the target, a few connections.
    await new Promise((r) => setTimeout(r, 1_000));
    const slow = await dial(port);
    clock += 5_000;
    admission.welcomed(slow.remote);
    await new Promise((r) => setTimeout(r, 150));
    expect(admission.stats().limit).to.be.within(4, 10);
    admission.stop();
  });

  it("on a busy controller: keeps the limit a high Welcome rate sustains though each Welcome comes later than the target", async () => {
    const port = await listen();
    let clock = 0;
    const admission = admitConnections(server, { maxOpening: 200, initialOpening: 40, minOpening: 4, targetMs: 1_000, adjustEveryMs: 100, welcomeWithinMs: 60_000, monotonicNow: () => clock, loopUtilization: () => 1, log: silentLogger() });
    // 40 at a time, each welcomed 1.5 s after its accept: about 200 Welcomes a second, which 40 opening connections
    // sustain at 0.2 s each by Little's law. A limit set by the slowest Welcome alone would fall to its floor.
    for (let round = 0; round < 5; round += 1) {
      const batch = [];
      for (let i = 0; i < 40; i += 1) batch.push(await dial(port));
      clock += 1_500;
      for (const c of batch) admission.welcomed(c.remote);
      await new Promise((r) => setTimeout(r, 120));
      expect(admission.stats().limit, `round ${round}`).to.equal(40);
    }
    expect(admission.stats().refused).to.equal(0);
    admission.stop();
  });

  it("on a busy controller: lowers the limit by at least 30 % when an agent gives up on a connection opening longer than the target", async () => {
    const port = await listen();
    let clock = 0;
    const admission = admitConnections(server, { maxOpening: 100, initialOpening: 40, minOpening: 4, targetMs: 1_000, adjustEveryMs: 100, welcomeWithinMs: 60_000, monotonicNow: () => clock, loopUtilization: () => 1, log: silentLogger() });
    const quitter = await dial(port);
    const early = await dial(port);
    // Closed before the target: a client going away, not a sign of overload.
    early.socket.destroy();
    await new Promise((r) => setTimeout(r, 250));
    expect(admission.stats()).to.include({ opening: 1, limit: 40 });
    clock += 2_000;
    quitter.socket.destroy();
    await new Promise((r) => setTimeout(r, 250));
    expect(admission.stats().opening).to.equal(0);
    expect(admission.stats().limit).to.be.within(4, 28);
    admission.stop();
  });

  it("with room in its event loop: slow Welcomes and agents giving up lower nothing, and the limit grows by half when it refuses", async () => {
    const port = await listen();
    let clock = 0;
    let utilization = 0.2;
    const admission = admitConnections(server, { maxOpening: 100, initialOpening: 8, minOpening: 4, targetMs: 1_000, adjustEveryMs: 100, welcomeWithinMs: 60_000, monotonicNow: () => clock, loopUtilization: () => utilization, log: silentLogger() });
    const batch = [];
    for (let i = 0; i < 8; i += 1) batch.push(await dial(port));
    // The clients are slow (5 s to their Hello), one gives up: the controller is not what holds them back.
    clock += 5_000;
    for (const c of batch.slice(0, 7)) admission.welcomed(c.remote);
    batch[7]!.socket.destroy();
    await new Promise((r) => setTimeout(r, 250));
    expect(admission.stats().limit).to.equal(8);
    // Refusing while the loop has room: up by half (at least 8) per adjustment, until nobody is refused.
    const more = [];
    for (let i = 0; i < 10; i += 1) more.push(await dial(port));
    await new Promise((r) => setTimeout(r, 250));
    expect(admission.stats().refused).to.be.greaterThan(0);
    expect(admission.stats().limit).to.equal(16);
    // On a busy loop a late Welcome counts: with the rate fallen to nothing, down to the few it sustains.
    utilization = 1;
    await new Promise((r) => setTimeout(r, 1_000));
    clock += 5_000;
    admission.welcomed(more[0]!.remote);
    await new Promise((r) => setTimeout(r, 250));
    expect(admission.stats().limit).to.be.within(4, 10);
    admission.stop();
  });

  it("closes a connection that got no Welcome within welcomeWithinMs", async () => {
    const port = await listen();
    const admission = admitConnections(server, { maxOpening: 10, initialOpening: 10, welcomeWithinMs: 300, adjustEveryMs: 60_000, log: silentLogger() });
    const silent = await dial(port);
    const welcomed = await dial(port);
    admission.welcomed(welcomed.remote);
    expect(await silent.closedWithin(3_000)).to.equal(true);
    expect(await welcomed.closedWithin(300)).to.equal(false);
    expect(admission.stats()).to.deep.equal({ opening: 0, refused: 0, limit: 10 });
    admission.stop();
  });
});
