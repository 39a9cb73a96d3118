import { expect } from "chai";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertRejectReason, ResultRejectReason, type AlertReject, type ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import type { SqliteStore } from "../controller/store/sqlite-store.js";
import { connectRawAgent, type RawAgentClient, type RawAgentOptions } from "./support/raw-agent-client.js";
import { sshAlert, startControllerHarness, type ControllerHarness } from "./support/controller-harness.js";

const isCase = (c: ControllerMessage["payload"]["case"]) => (m: ControllerMessage) => m.payload.case === c;

describe("controller link: refusals are logged with their reason while other agents keep working", function () {
  this.timeout(30_000);
  let h: ControllerHarness;
  let good: RawAgentClient;
  const clients: RawAgentClient[] = [];

  const open = (options: Omit<RawAgentOptions, "port" | "ca">): RawAgentClient => {
    const client = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...options });
    clients.push(client);
    return client;
  };
  /** The good agent still gets its alerts stored and acked. */
  async function goodAgentStillWorks(): Promise<void> {
    const alert = sshAlert();
    good.send({ payload: { case: "alert", value: alert } });
    await good.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === alert.id);
    expect(h.controller.onlineAgents()).to.include("good");
  }
  async function logged(text: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 100; i += 1) {
      const line = h.log.matching(text)[0];
      if (line) return line;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no log line mentions "${text}"; log:\n${h.log.lines.map((l) => `${String(l.msg)} ${String(l.reason ?? "")}`).join("\n")}`);
  }

  beforeEach(async () => {
    h = await startControllerHarness();
    good = open(await h.pki.issueAgent("good"));
    good.hello({ agentId: "good", actions: [Answer.BLOCK_IP] });
    await good.waitFor(isCase("welcome"));
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await h.cleanup();
  });

  it("refuses a client without a certificate at the handshake", async () => {
    const client = open({});
    client.hello({ agentId: "anonymous" });
    const status = await client.ended;
    expect(status.code).to.equal(GrpcStatus.UNAVAILABLE);
    expect(client.received).to.deep.equal([]);
    const line = await logged("TLS handshake refused");
    expect(String(line.reason)).to.match(/did not return a certificate/);
    expect((await h.controller.store.getAgent("anonymous"))).to.equal(undefined);
    await goodAgentStillWorks();
  });

  it("refuses a certificate from another CA at the handshake", async () => {
    const client = open(h.pki.foreign.agent);
    client.hello({ agentId: "foreign" });
    expect((await client.ended).code).to.equal(GrpcStatus.UNAVAILABLE);
    const line = await logged("TLS handshake refused");
    expect(String(line.reason)).to.match(/not signed by the SecARC CA/);
    expect((await h.controller.store.getAgent("foreign"))).to.equal(undefined);
    await goodAgentStillWorks();
  });

  it("refuses an expired certificate at the handshake", async () => {
    const client = open(await h.pki.issueAgent("old", { expired: true }));
    client.hello({ agentId: "old" });
    expect((await client.ended).code).to.equal(GrpcStatus.UNAVAILABLE);
    const line = await logged("TLS handshake refused");
    expect(String(line.reason)).to.match(/expired/i);
    expect((await h.controller.store.getAgent("old"))).to.equal(undefined);
    await goodAgentStillWorks();
  });

  it("a connection closed before any TLS byte is no refused handshake (debug only); one that sends garbage is", async () => {
    const { connect } = await import("node:net");
    const dial = (send?: string) =>
      new Promise<void>((resolve) => {
        const socket = connect(h.controller.port, "127.0.0.1", () => {
          if (send) socket.write(send);
          setTimeout(() => socket.destroy(), send ? 100 : 0);
        });
        socket.on("close", () => resolve());
        socket.on("error", () => undefined);
      });
    await dial();
    await logged("connection closed before its TLS handshake began");
    expect(h.log.matching("TLS handshake refused")).to.deep.equal([]);
    await dial("GET / HTTP/1.1\r\n\r\n");
    const line = await logged("TLS handshake refused");
    expect(line.level).to.equal(40);
    await goodAgentStillWorks();
  });

  it("refuses a Hello that claims another agent's id with PERMISSION_DENIED", async () => {
    const client = open(await h.pki.issueAgent("web-a"));
    client.hello({ agentId: "good" });
    const status = await client.ended;
    expect(status.code).to.equal(GrpcStatus.PERMISSION_DENIED);
    expect(status.details).to.include('"good"').and.include('"web-a"');
    const line = await logged("stream refused");
    expect(line).to.include({ identity: "web-a", status: "PERMISSION_DENIED" });
    expect((await h.controller.store.getAgent("web-a"))).to.equal(undefined);
    expect((await h.controller.store.getAgent("good"))!.connects).to.equal(1);
    await goodAgentStillWorks();
  });

  it("refuses a message larger than the limit with RESOURCE_EXHAUSTED and stores nothing of it", async () => {
    const client = open(await h.pki.issueAgent("big"));
    client.hello({ agentId: "big" });
    await client.waitFor(isCase("welcome"));
    const alert = sshAlert();
    alert.summary = "x".repeat(1_100_000);
    client.send({ payload: { case: "alert", value: alert } });
    const status = await client.ended;
    expect(status.code).to.equal(GrpcStatus.RESOURCE_EXHAUSTED);
    const line = await logged("stream refused");
    expect(line).to.include({ identity: "big", status: "RESOURCE_EXHAUSTED" });
    expect((await h.controller.store.getAlert(alert.id))).to.equal(undefined);
    await goodAgentStillWorks();
  });

  it("refuses a stream whose first message is not a Hello with INVALID_ARGUMENT", async () => {
    const client = open(await h.pki.issueAgent("rude"));
    const alert = sshAlert();
    client.send({ payload: { case: "alert", value: alert } });
    const status = await client.ended;
    expect(status.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    await logged("the first message was not a Hello");
    expect((h.controller.store as SqliteStore).db.prepare("SELECT COUNT(*) AS n FROM alerts WHERE alert_id = ?").get(alert.id)).to.deep.equal({ n: 0 });
    await goodAgentStillWorks();
  });

  it("rejects an alert without id or kind with an AlertReject, storing nothing; the stream goes on", async () => {
    const client = open(await h.pki.issueAgent("sloppy"));
    client.hello({ agentId: "sloppy" });
    await client.waitFor(isCase("welcome"));
    const alert = sshAlert();
    alert.id = "";
    client.send({ payload: { case: "alert", value: alert } });
    const noKind = sshAlert();
    noKind.kind = AlertKind.UNSPECIFIED;
    client.send({ payload: { case: "alert", value: noKind } });
    const rejects = await waitRejects(client, 2);
    expect(rejects.map((r) => [r.alertId, r.reason])).to.deep.equal([["", AlertRejectReason.INVALID], [noKind.id, AlertRejectReason.INVALID]]);
    expect(rejects[0]!.detail).to.include("no id");
    expect(rejects[1]!.detail).to.include("no kind");
    expect((h.controller.store as SqliteStore).db.prepare("SELECT COUNT(*) AS n FROM alerts WHERE agent_id = 'sloppy'").get()).to.deep.equal({ n: 0 });
    const fine = sshAlert();
    client.send({ payload: { case: "alert", value: fine } });
    await client.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === fine.id);
    await goodAgentStillWorks();
  });

  it("rejects a result for an action it never sent with a ResultReject, audited as suspicious, and records nothing", async () => {
    good.send({ payload: { case: "actionResult", value: { actionId: "made-up", status: 1, detail: "done?" } } });
    const reject = await good.waitFor(isCase("resultReject"));
    expect(reject.payload.value).to.include({ actionId: "made-up", reason: ResultRejectReason.UNKNOWN_ACTION });
    expect(good.received.some(isCase("resultAck"))).to.equal(false);
    expect((await h.controller.store.getAction("made-up"))).to.equal(undefined);
    const audit = (await h.controller.store.listAudit(10)).find((row) => row.event === "link.result_rejected");
    expect(audit?.detail).to.include("suspicious").and.to.include("made-up");
    expect(audit?.actor).to.equal("agent:good");
    await logged("action result rejected");
    await goodAgentStillWorks();
  });
});

/** The first `count` AlertRejects the client received. */
async function waitRejects(client: RawAgentClient, count: number): Promise<AlertReject[]> {
  for (let i = 0; i < 250; i += 1) {
    const rejects = client.received.filter(isCase("alertReject")).map((m) => m.payload.value as AlertReject);
    if (rejects.length >= count) return rejects;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`fewer than ${count} AlertRejects; received ${client.received.map((m) => m.payload.case).join(",")}`);
}

describe("controller link: revoked certificates", function () {
  this.timeout(30_000);

  it("refuses a certificate listed in the configured CRL at the handshake", async () => {
    const { createTestPki } = await import("./support/pki.js");
    const pki = await createTestPki();
    const revoked = await pki.issueAgent("revoked");
    const kept = await pki.issueAgent("kept");
    const crl = await pki.revoke(revoked.cert);
    const h = await startControllerHarness({ tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key, crl } });
    const clients: RawAgentClient[] = [];
    try {
      const bad = connectRawAgent({ port: h.controller.port, ca: pki.ca, ...revoked });
      clients.push(bad);
      bad.hello({ agentId: "revoked" });
      expect((await bad.ended).code).to.equal(GrpcStatus.UNAVAILABLE);
      for (let i = 0; i < 100 && h.log.matching("TLS handshake refused").length === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
      expect(h.log.matching("TLS handshake refused")[0]?.reason).to.match(/revoked/i);
      const ok = connectRawAgent({ port: h.controller.port, ca: pki.ca, ...kept });
      clients.push(ok);
      ok.hello({ agentId: "kept" });
      await ok.waitFor(isCase("welcome"));
    } finally {
      for (const c of clients) c.close();
      await h.cleanup();
      pki.cleanup();
    }
  });
});
