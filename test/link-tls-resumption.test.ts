import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { expect } from "chai";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AgentMessageSchema, ControllerMessageSchema, HelloSchema } from "../gen/secarc/v1/agent_service_pb.js";
import { createLinkClient } from "../agent/link/link-client.js";
import { silentLogger } from "../common/log.js";
import { eventually, freeLoopbackPort } from "./support/agent-process.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { curlMetrics } from "./support/e2e-metrics.js";
import { createTestPki, type TestPki } from "./support/pki.js";

interface Dialled {
  resumed: boolean;
  ticket: Buffer | undefined;
  welcomed: boolean;
}

/** One AgentService.Connect stream over node:http2 and node:tls, offering `ticket`; resolves once the Welcome (or the end) came. */
function dial(port: number, files: { ca: string; cert: string; key: string }, agentId: string, ticket: Buffer | undefined): Promise<Dialled> {
  return new Promise((resolve) => {
    const result: Dialled = { resumed: false, ticket: undefined, welcomed: false };
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      createConnection: () => {
        const socket = tlsConnect({
          host: "127.0.0.1",
          port,
          ca: readFileSync(files.ca),
          cert: readFileSync(files.cert),
          key: readFileSync(files.key),
          servername: "localhost",
          ALPNProtocols: ["h2"],
          ...(ticket ? { session: ticket } : {}),
        });
        socket.on("session", (t: Buffer) => (result.ticket = t));
        socket.once("secureConnect", () => (result.resumed = socket.isSessionReused()));
        return socket;
      },
    });
    session.on("error", () => {});
    const stream = session.request({ ":method": "POST", ":path": "/secarc.v1.AgentService/Connect", "content-type": "application/grpc+proto", te: "trailers" });
    stream.on("error", () => {});
    const hello = toBinary(AgentMessageSchema, create(AgentMessageSchema, { payload: { case: "hello", value: { agentId, agentVersion: "test", hostname: agentId } } }));
    const frame = Buffer.alloc(5 + hello.length);
    frame.writeUInt32BE(hello.length, 1);
    frame.set(hello, 5);
    stream.write(frame);
    let buffer = Buffer.alloc(0);
    const done = () => {
      session.destroy();
      resolve(result);
    };
    stream.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 5 || buffer.length < 5 + buffer.readUInt32BE(1)) return;
      result.welcomed = fromBinary(ControllerMessageSchema, buffer.subarray(5, 5 + buffer.readUInt32BE(1))).payload.case === "welcome";
      // TLS 1.3 tickets arrive after the handshake: give them a moment.
      setTimeout(done, 200);
    });
    // A refused stream ends with trailers; our side stays open until we close it.
    stream.on("end", done);
    stream.on("close", done);
  });
}

/**
 * Issue 17 item 2: agents reconnecting after a controller restart resume
 * their TLS session (tickets sealed with keys derived from
 * tls.ticketKeyFile), and the resumed connection is still the certificate's
 * identity (its Hello is welcomed). Real mutual TLS on loopback.
 */
describe("link: TLS session resumption across a controller restart", function () {
  this.timeout(240_000);
  let pki: TestPki;
  let dir: string;
  let controller: ControllerProcess | undefined;

  before(async () => (pki = await createTestPki()));
  after(() => pki.cleanup());
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "secarc-tickets-"))));
  const stop = async () => {
    controller?.kill("SIGTERM");
    await controller?.stopped;
    controller = undefined;
  };
  afterEach(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A controller process on `port` (0: any), with the ticket key file or without: a restart is a new process, as in production. */
  async function run(port: number, ticketKeyFile: string | undefined, metricsPort?: number, crl?: string): Promise<ControllerProcess> {
    await stop();
    const tls = { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key, ...(ticketKeyFile ? { ticketKeyFile } : {}), ...(crl ? { crl } : {}) };
    const metrics = metricsPort === undefined ? {} : { metrics: { listen: { host: "127.0.0.1", port: metricsPort } } };
    controller = await startControllerProcess({ config: { listen: { host: "127.0.0.1", port }, tls, store: { path: join(dir, "controller.db") }, log: { level: crl ? "info" : "warn" }, ...metrics }, startTimeoutMs: 90_000 });
    return controller;
  }

  it("resumes the TLS session after a restart with the same ticket key file, and welcomes the agent", async () => {
    const keyFile = join(dir, "tickets.key");
    const { port } = await run(0, keyFile);
    expect(readFileSync(keyFile)).to.have.length(32);
    const files = { ca: pki.ca, ...(await pki.issueAgent("resumer")) };
    const first = await dial(port, files, "resumer", undefined);
    expect(first).to.include({ welcomed: true, resumed: false });
    expect(first.ticket).to.be.instanceOf(Buffer);
    await run(port, keyFile);
    const again = await dial(port, files, "resumer", first.ticket);
    expect(again).to.include({ welcomed: true, resumed: true });
  });

  it("the agent's own link (grpc-js) offers its ticket after a restart: resumed, welcomed, and counted by the controller", async () => {
    const keyFile = join(dir, "tickets.key");
    const metricsPort = await freeLoopbackPort();
    const { port } = await run(0, keyFile, metricsPort);
    const files = await pki.issueAgent("linker");
    const client = createLinkClient({
      addresses: [`127.0.0.1:${port}`],
      serverName: "localhost",
      tls: { ca: readFileSync(pki.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) },
      link: { backoffInitial: 50, backoffMax: 500, keepaliveTime: 10_000, keepaliveTimeout: 5_000, maxMessageBytes: 1 << 20, connectTimeout: 15_000 },
      hello: () => create(HelloSchema, { agentId: "linker", agentVersion: "test", hostname: "linker" }),
      pending: { page: () => [], lastSeq: () => 0 },
      outboxDepth: () => 0,
      onMessage: () => undefined,
      logger: silentLogger(),
      now: Date.now,
    });
    try {
      client.start();
      await client.waitConnected(30_000);
      expect((await curlMetrics(metricsPort)).value("secarc_link_tls_handshakes_total", { resumed: "false" })).to.equal(1);
      // TLS 1.3 tickets come after the handshake.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await run(port, keyFile, metricsPort);
      await eventually("the link back after the restart", () => client.isConnected() && client.tlsHandshakes().handshakes === 2, 60_000);
      expect(client.tlsHandshakes()).to.deep.include({ handshakes: 2, resumed: 1 });
      expect((await curlMetrics(metricsPort)).value("secarc_link_tls_handshakes_total", { resumed: "true" })).to.equal(1);
      expect((await curlMetrics(metricsPort)).value("secarc_link_tls_handshakes_total", { resumed: "false" })).to.equal(0);
    } finally {
      await client.close();
    }
  });

  it("after a CRL reload: a revoked certificate's resumed session is refused at Hello, and new tickets still resume after a restart", async () => {
    const keyFile = join(dir, "tickets.key");
    const crl = join(dir, "crl.pem");
    copyFileSync(await pki.revoke((await pki.issueAgent("gone-1")).cert), crl);
    const { port } = await run(0, keyFile, undefined, crl);
    const gone = await pki.issueAgent("gone-2");
    const before = await dial(port, { ca: pki.ca, ...gone }, "gone-2", undefined);
    expect(before.welcomed).to.equal(true);
    // The CRL changes while the controller runs: a new TLS context, with random ticket keys of its own.
    copyFileSync(await pki.revoke(gone.cert), crl);
    await eventually("the CRL reloaded", () => controller!.log.some((line) => line.includes("CRL reloaded: 2 certificate(s) revoked")), 20_000);
    // The revoked certificate's ticket still resumes a TLS session, which skips the CRL: its Hello is refused.
    const revoked = await dial(port, { ca: pki.ca, ...gone }, "gone-2", before.ticket);
    expect(revoked).to.include({ resumed: true, welcomed: false });
    const files = { ca: pki.ca, ...(await pki.issueAgent("after-reload")) };
    const first = await dial(port, files, "after-reload", undefined);
    expect(first.welcomed).to.equal(true);
    await run(port, keyFile, undefined, crl);
    const again = await dial(port, files, "after-reload", first.ticket);
    expect(again).to.include({ welcomed: true, resumed: true });
  });

  it("makes a full handshake after a restart without a ticket key file", async () => {
    const { port } = await run(0, undefined);
    const files = { ca: pki.ca, ...(await pki.issueAgent("fresh")) };
    const first = await dial(port, files, "fresh", undefined);
    expect(first.welcomed).to.equal(true);
    expect(first.ticket).to.be.instanceOf(Buffer);
    await run(port, undefined);
    const again = await dial(port, files, "fresh", first.ticket);
    expect(again).to.include({ welcomed: true, resumed: false });
  });
});
