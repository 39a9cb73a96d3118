import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import { create } from "@bufbuild/protobuf";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { expect } from "chai";
import { Answer, OperatorSchema } from "../gen/secarc/v1/action_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { sshAlert, startControllerHarness, testOperator, type ControllerHarness } from "./support/controller-harness.js";

const isCase = (c: ControllerMessage["payload"]["case"]) => (m: ControllerMessage) => m.payload.case === c;

/**
 * A loopback TCP relay that can freeze: it keeps both connections open but
 * stops moving bytes, as a peer that vanished without closing does (power
 * cut, cable pulled). Only HTTP/2 pings can tell.
 */
function startFreezableRelay(targetPort: number): Promise<{ port: number; freeze(): void; close(): void }> {
  const pairs: Array<[Socket, Socket]> = [];
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    pairs.push([client, upstream]);
    client.on("data", (chunk) => void (!frozen && upstream.write(chunk)));
    upstream.on("data", (chunk) => void (!frozen && client.write(chunk)));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => {
      if (!frozen) client.destroy();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : 0,
        freeze() {
          frozen = true;
        },
        close() {
          for (const [a, b] of pairs) {
            a.destroy();
            b.destroy();
          }
          server.close();
        },
      });
    });
  });
}

describe("controller link: one live session per agent, dead peers found by pings", function () {
  this.timeout(30_000);
  let h: ControllerHarness;
  const clients: RawAgentClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await h.cleanup();
  });

  it("closes the older stream with ABORTED when a newer one arrives, and delivers an action to the newer only", async () => {
    h = await startControllerHarness();
    const certs = await h.pki.issueAgent("web-1");
    const older = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...certs });
    clients.push(older);
    older.hello({ agentId: "web-1", actions: [Answer.BLOCK_IP] });
    await older.waitFor(isCase("welcome"));
    const alert = sshAlert();
    older.send({ payload: { case: "alert", value: alert } });
    await older.waitFor(isCase("alertAck"));

    const newer = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...certs });
    clients.push(newer);
    newer.hello({ agentId: "web-1", actions: [Answer.BLOCK_IP] });
    await newer.waitFor(isCase("welcome"));
    const status = await older.ended;
    expect(status.code).to.equal(GrpcStatus.ABORTED);
    expect(status.details).to.include("replaced");
    expect(h.controller.onlineAgents()).to.deep.equal(["web-1"]);
    await new Promise((r) => setTimeout(r, 100));
    expect((await h.controller.store.getAgent("web-1"))).to.include({ online: true, connects: 2 });

    const outcome = (await h.controller.actions.request({ agentId: "web-1", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(outcome.detail);
    expect(outcome.delivered).to.equal(true);
    const delivered = await newer.waitFor(isCase("responseAction"));
    expect(delivered.payload.value).to.include({ actionId: outcome.action.actionId });
    await new Promise((r) => setTimeout(r, 200));
    expect(older.received.filter(isCase("responseAction"))).to.have.length(0);
    expect(newer.received.filter(isCase("responseAction"))).to.have.length(1);
  });

  it("hands each action to the live stream only while two streams race: none lost, none sent twice on one stream", async () => {
    h = await startControllerHarness();
    const certs = await h.pki.issueAgent("web-2");
    const first = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...certs });
    clients.push(first);
    first.hello({ agentId: "web-2", actions: [Answer.BLOCK_IP] });
    await first.waitFor(isCase("welcome"));
    const alerts = Array.from({ length: 20 }, () => sshAlert());
    for (const alert of alerts) first.send({ payload: { case: "alert", value: alert } });
    for (const alert of alerts) await first.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === alert.id);

    const second = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...certs });
    clients.push(second);
    second.hello({ agentId: "web-2", actions: [Answer.BLOCK_IP], finishedActionIds: [] });
    // Operators answer while the second stream's Hello is in flight.
    const requested = Promise.all(
      alerts.map(async (alert) => {
        const outcome = await h.controller.actions.request({ agentId: "web-2", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) });
        if (!outcome.ok) throw new Error(outcome.detail);
        return outcome.action.actionId;
      }),
    );
    await second.waitFor(isCase("welcome"));
    const ids = await requested;
    await first.ended;
    for (let i = 0; i < 100; i += 1) {
      const seen = new Set([...first.received, ...second.received].filter(isCase("responseAction")).map((m) => (m.payload.value as { actionId: string }).actionId));
      if (ids.every((id) => seen.has(id))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const byStream = (c: RawAgentClient) => c.received.filter(isCase("responseAction")).map((m) => (m.payload.value as { actionId: string }).actionId);
    const one = byStream(first);
    const two = byStream(second);
    // Every action reached a stream; an action handed to the older stream before
    // the newer's Hello is sent again to the newer on its connect (the agent's
    // journal makes that redelivery harmless), never the other way round.
    expect(new Set([...one, ...two])).to.deep.equal(new Set(ids));
    expect(two.length).to.equal(new Set(two).size);
    expect(one.length).to.equal(new Set(one).size);
  });

  it("finds a peer that stopped answering within pingInterval + pingTimeout and records it offline", async () => {
    h = await startControllerHarness({ link: { pingInterval: "300ms", pingTimeout: "300ms" } });
    const relay = await startFreezableRelay(h.controller.port);
    try {
      const certs = await h.pki.issueAgent("quiet");
      const client = connectRawAgent({ port: relay.port, ca: h.pki.ca, ...certs });
      clients.push(client);
      client.hello({ agentId: "quiet" });
      await client.waitFor(isCase("welcome"));
      await new Promise((r) => setTimeout(r, 800));
      expect(h.controller.onlineAgents(), "a live peer answers pings and stays").to.deep.equal(["quiet"]);
      relay.freeze();
      const frozenAt = Date.now();
      while (h.controller.onlineAgents().length > 0 && Date.now() - frozenAt < 5_000) await new Promise((r) => setTimeout(r, 25));
      const took = Date.now() - frozenAt;
      expect(h.controller.onlineAgents()).to.deep.equal([]);
      expect(took).to.be.below(2_000);
      for (let i = 0; i < 50 && (await h.controller.store.getAgent("quiet"))!.online; i += 1) await new Promise((r) => setTimeout(r, 20));
      expect((await h.controller.store.getAgent("quiet"))!.online).to.equal(false);
      expect(h.log.matching("closing a dead connection")).to.have.length.greaterThan(0);
    } finally {
      relay.close();
    }
  });

  it("does not end as silent a stream whose messages wait unread while the store is held up (back-pressure)", async () => {
    h = await startControllerHarness({ link: { heartbeatInterval: "200ms", pingTimeout: "200ms" } });
    const busy = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...(await h.pki.issueAgent("busy")) });
    clients.push(busy);
    busy.hello({ agentId: "busy" });
    await busy.waitFor(isCase("welcome"));
    // The store is held up: the stream's 1,024 writes in flight fill, and its reader stops pulling.
    let release!: () => void;
    const held = h.controller.store.transaction(() => new Promise<void>((resolve) => (release = resolve)));
    const alerts = Array.from({ length: 1_500 }, () => sshAlert());
    for (const alert of alerts) busy.send({ payload: { case: "alert", value: alert } });
    // Far past three heartbeat intervals (600 ms) without a message read.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(h.log.matching("ending a silent stream")).to.deep.equal([]);
    expect(h.controller.onlineAgents()).to.deep.equal(["busy"]);
    release();
    await held;
    // The agent keeps up its heartbeats from now on; every alert is acked on the same stream.
    const beat = setInterval(() => busy.send({ payload: { case: "heartbeat", value: { outboxDepth: 0 } } }), 100);
    try {
      await busy.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === alerts.at(-1)!.id);
    } finally {
      clearInterval(beat);
    }
    expect(h.log.matching("ending a silent stream")).to.deep.equal([]);
  });

  it("ends a stream whose agent stopped sending heartbeats, and keeps one that sends them", async () => {
    h = await startControllerHarness({ link: { heartbeatInterval: "200ms", pingTimeout: "200ms" } });
    const silent = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...(await h.pki.issueAgent("hung")) });
    const lively = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...(await h.pki.issueAgent("lively")) });
    clients.push(silent, lively);
    silent.hello({ agentId: "hung" });
    lively.hello({ agentId: "lively" });
    await silent.waitFor(isCase("welcome"));
    await lively.waitFor(isCase("welcome"));
    const beat = setInterval(() => lively.send({ payload: { case: "heartbeat", value: { outboxDepth: 0 } } }), 100);
    try {
      const status = await Promise.race([silent.ended, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("silent stream not ended within 3 s")), 3_000))]);
      expect(status.code).to.equal(GrpcStatus.UNAVAILABLE);
      expect(status.details).to.include("no message for");
      await new Promise((r) => setTimeout(r, 300));
      expect(h.controller.onlineAgents()).to.deep.equal(["lively"]);
      expect((await h.controller.store.getAgent("hung"))!.online).to.equal(false);
      expect(h.log.matching("ending a silent stream").map((l) => l.agentId)).to.deep.equal(["hung"]);
    } finally {
      clearInterval(beat);
    }
  });
});
