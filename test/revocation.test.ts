import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { writeEmptyCrlFile } from "../cli/certs/crl.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { CONTROLLER_VERSION, startController, type RunningController } from "../controller/controller.js";
import { createEventBus } from "../controller/domain/events.js";
import { startLinkServer } from "../controller/link/link-server.js";
import { normalizeSerial, type RevocationList } from "../controller/link/revocation-list.js";
import { createSessionRegistry } from "../controller/link/session-registry.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { createFakeBotApi, type FakeBotApi } from "../testing/fake-bot-api.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertRejectReason, type ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { captureLog, sshAlert, testControllerConfig, type CapturedLog } from "./support/controller-harness.js";
import { createTestPki, type CertPaths, type TestPki } from "./support/pki.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";

const CHAT = 2001;
const OPERATOR = { id: 88, username: "op" };
const isCase = (c: ControllerMessage["payload"]["case"]) => (m: ControllerMessage) => m.payload.case === c;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Issue 8, acceptance 1: an agent's identity is its certificate's name AND a
 * certificate the controller's CRL does not revoke. The CRL file is re-read
 * while the controller runs: new handshakes and Hellos are checked against
 * it, live streams of revoked certificates are ended within seconds, and
 * other agents carry on. Real mutual TLS on loopback, real agents, SQLite,
 * the fake Bot API for /status.
 */
describe("certificate revocation: refused at connect, live streams ended when the CRL changes", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let crlPath: string;
  let api: FakeBotApi;
  let log: CapturedLog;
  let controller: RunningController | undefined;
  const agents: RunningAgent[] = [];
  const clients: RawAgentClient[] = [];

  beforeEach(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-revocation-"));
    // As in production: the CA machine's crl.pem is copied to the controller's own path.
    crlPath = join(dir, "controller-crl.pem");
    copyFileSync(await writeEmptyCrlFile(pki.dir), crlPath);
    api = createFakeBotApi();
    await api.start();
    log = captureLog();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const agent of agents.splice(0)) await agent.close();
    await controller?.close();
    controller = undefined;
    await api.stop();
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startTheController(): Promise<RunningController> {
    const config = testControllerConfig(pki, dir, {
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key, crl: crlPath },
      telegram: { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } },
    });
    controller = await startController({ config, logger: log.logger });
    return controller;
  }

  async function startRealAgent(name: string): Promise<{ agent: RunningAgent; certs: CertPaths }> {
    const certs = await pki.issueAgent(name);
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, `state-${name}`), port: controller!.port }), "test");
    const agent = await startAgent({ config, logger: silentLogger(), detectors: () => [] });
    agents.push(agent);
    await agent.waitConnected(10_000);
    return { agent, certs };
  }

  /** Revokes on the "CA machine" and copies the CRL over the controller's file in place (as cp or scp do). */
  async function revokeAndCopy(cert: string): Promise<void> {
    copyFileSync(await pki.revoke(cert), crlPath);
  }

  async function logged(text: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await eventually(`a log line about "${text}"`, () => (found = log.matching(text)[0]) !== undefined, timeoutMs);
    return found!;
  }

  it("refuses a certificate the CRL revokes at connect (TLS handshake), and accepts the others", async () => {
    const lost = await pki.issueAgent("lost-1");
    await revokeAndCopy(lost.cert);
    await startTheController();

    const refused = connectRawAgent({ port: controller!.port, ca: pki.ca, ...lost });
    clients.push(refused);
    refused.hello({ agentId: "lost-1" });
    expect((await refused.ended).code).to.equal(GrpcStatus.UNAVAILABLE);
    expect(refused.received).to.deep.equal([]);
    expect(String((await logged("TLS handshake refused")).reason)).to.match(/revoked/);
    expect((await controller!.store.getAgent("lost-1"))).to.equal(undefined);

    const { agent } = await startRealAgent("web-2");
    expect(agent.isConnected()).to.equal(true);
    expect(controller!.onlineAgents()).to.deep.equal(["web-2"]);
  });

  it("disconnects a connected agent within 5 s of its certificate's revocation; a second agent stays connected and its alerts still flow", async () => {
    await startTheController();
    const web1 = await startRealAgent("web-1");
    const web2 = await startRealAgent("web-2");
    expect(controller!.onlineAgents().sort()).to.deep.equal(["web-1", "web-2"]);
    const serial = normalizeSerial(new X509Certificate(readFileSync(web1.certs.cert)).serialNumber);
    expect((await controller!.store.getAgent("web-1"))).to.deep.include({ certSerial: serial, revokedAt: undefined });

    const revokedAt = Date.now();
    await revokeAndCopy(web1.certs.cert);
    await eventually("web-1 disconnected", () => !web1.agent.isConnected() && !controller!.onlineAgents().includes("web-1"), 10_000);
    const tookMs = Date.now() - revokedAt;
    console.log(`      revoked agent disconnected ${tookMs} ms after the CRL file was rewritten`);
    expect(tookMs).to.be.below(5_000);
    const ended = await logged("ending the stream of a revoked certificate");
    expect(ended).to.include({ agentId: "web-1" });
    expect(String(ended.reason)).to.include(serial);

    // The store learned it: /status says so.
    expect((await controller!.store.getAgent("web-1"))!.revokedAt).to.be.instanceOf(Date);
    expect((await controller!.store.getAgent("web-2"))!.revokedAt).to.equal(undefined);

    // web-2 never noticed: same stream, and its alerts are stored and shown.
    expect(web2.agent.isConnected()).to.equal(true);
    expect((await controller!.store.getAgent("web-2"))!.connects).to.equal(1);
    const alert = sshAlert();
    web2.agent.emit(alert);
    await eventually("web-2's alert stored", async () => (await controller!.store.getAlert(alert.id)) !== undefined);
    await api.waitFor(() => api.messagesIn(CHAT).find((m) => m.text.includes("web-2") && m.text.includes("New SSH login")), 10_000);

    // web-1 keeps trying (with its backoff) and is refused at every handshake; what it emits is not stored.
    const lost = sshAlert();
    web1.agent.emit(lost);
    const refusalsBefore = log.matching("TLS handshake refused").length;
    await eventually("web-1's reconnects refused", () => log.matching("TLS handshake refused").length >= refusalsBefore + 2, 10_000);
    expect(log.matching("TLS handshake refused").every((line) => /revoked/.test(String(line.reason)))).to.equal(true);
    expect(controller!.onlineAgents()).to.deep.equal(["web-2"]);
    expect((await controller!.store.getAlert(lost.id))).to.equal(undefined);
    expect((await controller!.store.getAgent("web-1"))!.connects).to.equal(1);

    // New handshakes after the swap work for certificates the CRL does not list.
    const web3 = await startRealAgent("web-3");
    expect(web3.agent.isConnected()).to.equal(true);
    expect(controller!.onlineAgents().sort()).to.deep.equal(["web-2", "web-3"]);

    api.sendCommand(CHAT, OPERATOR, "/status");
    const status = await api.waitFor(() => api.messagesIn(CHAT).find((m) => m.text.startsWith("Servers (3)")), 10_000);
    expect(status.text).to.match(/⛔ <b>web-1<\/b>: revoked \(certificate in the CRL\), last seen/);
    expect(status.text).to.match(/🟢 <b>web-2<\/b>: online/);
  });

  it("keeps the CRL in force when the new file is broken, logs why, and applies the next good one", async () => {
    const lost = await pki.issueAgent("lost-1");
    await revokeAndCopy(lost.cert);
    await startTheController();
    const web2 = await startRealAgent("web-2");

    writeFileSync(crlPath, "-----BEGIN X509 CRL-----\ntruncated");
    const error = await logged("the CRL file is not usable");
    expect(String(error.reason)).to.match(/incomplete or foreign PEM block|no PEM block/);
    // Still running, still refusing the revoked certificate, still serving the others.
    const refused = connectRawAgent({ port: controller!.port, ca: pki.ca, ...lost });
    clients.push(refused);
    refused.hello({ agentId: "lost-1" });
    expect((await refused.ended).code).to.equal(GrpcStatus.UNAVAILABLE);
    expect(web2.agent.isConnected()).to.equal(true);
    const fresh = await startRealAgent("web-3");
    expect(fresh.agent.isConnected()).to.equal(true);

    // The next good CRL (web-3 revoked too) is applied.
    await revokeAndCopy(fresh.certs.cert);
    await eventually("web-3 disconnected", () => !controller!.onlineAgents().includes("web-3"), 10_000);
    expect(controller!.onlineAgents()).to.deep.equal(["web-2"]);
    expect(log.matching("CRL reloaded")).to.have.length(1);
  });

  it("refuses a revoked certificate's Hello even when the TLS layer let it through (the identity check uses the CRL too)", async () => {
    // A link server whose TLS context has no CRL at all, and whose revocation
    // list says web-9's certificate is revoked: only the Hello check can refuse it.
    const store = openSqliteStore(join(dir, "link.db"));
    const revokedCerts = await pki.issueAgent("web-9");
    const goodCerts = await pki.issueAgent("web-8");
    const serial = normalizeSerial(new X509Certificate(readFileSync(revokedCerts.cert)).serialNumber);
    const revocation: RevocationList = { pems: [], serials: [serial], hash: "test", isRevoked: (cert) => normalizeSerial(cert.serialNumber) === serial };
    const link = await startLinkServer({
      host: "127.0.0.1",
      port: 0,
      tls: { ca: readFileSync(pki.ca), cert: readFileSync(pki.controller.cert), key: readFileSync(pki.controller.key) },
      revocation,
      store,
      registry: createSessionRegistry(),
      events: createEventBus(),
      logger: log.logger,
      now: Date.now,
      heartbeatIntervalMs: 10_000,
      pingIntervalMs: 10_000,
      pingTimeoutMs: 10_000,
      maxMessageBytes: 1_048_576,
      controllerVersion: CONTROLLER_VERSION,
    });
    try {
      const bad = connectRawAgent({ port: link.port, ca: pki.ca, ...revokedCerts });
      const good = connectRawAgent({ port: link.port, ca: pki.ca, ...goodCerts });
      clients.push(bad, good);
      bad.hello({ agentId: "web-9" });
      good.hello({ agentId: "web-8", actions: [Answer.BLOCK_IP] });
      const status = await bad.ended;
      expect(status.code).to.equal(GrpcStatus.PERMISSION_DENIED);
      expect(status.details).to.include("revoked").and.include(serial);
      expect(bad.received).to.deep.equal([]);
      expect((await store.getAgent("web-9"))).to.equal(undefined);
      await good.waitFor(isCase("welcome"));
      expect((await store.getAgent("web-8"))).to.deep.include({ online: true, revokedAt: undefined });
      expect((await store.getAgent("web-8"))!.certSerial).to.match(/^[0-9a-f]+$/);
    } finally {
      await link.close();
      await store.close();
    }
  });

  it("an agent may not send the controller's own AGENT_OFFLINE alert", async () => {
    await startTheController();
    const certs = await pki.issueAgent("forger");
    const client = connectRawAgent({ port: controller!.port, ca: pki.ca, ...certs });
    clients.push(client);
    client.hello({ agentId: "forger" });
    await client.waitFor(isCase("welcome"));
    const forged = sshAlert();
    forged.subject = { case: "agentOffline", value: { $typeName: "secarc.v1.AgentOffline", agentId: "web-1" } };
    client.send({ payload: { case: "alert", value: forged } });
    const reject = await client.waitFor(isCase("alertReject"));
    expect(reject.payload.value).to.include({ alertId: forged.id, reason: AlertRejectReason.CONTROLLER_ONLY });
    expect((reject.payload.value as { detail: string }).detail).to.include("controller's own");
    await sleep(100);
    expect((await controller!.store.getAlert(forged.id))).to.equal(undefined);
    expect(controller!.onlineAgents()).to.include("forger");
  });
});
