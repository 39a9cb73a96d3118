import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AgentMessageSchema, AgentService, HelloSchema, type AgentMessage, type ControllerMessage } from "../../gen/secarc/v1/agent_service_pb.js";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { silentLogger } from "../../common/log.js";
import { createTestPki, type TestPki } from "../../test/support/pki.js";
import { createLinkClient, type LinkClient } from "./link-client.js";

/**
 * The link client against a small scripted AgentService on a real HTTP/2
 * server with mutual TLS on loopback: it answers Hello with Welcome and
 * every alert with an AlertAck, and can end a stream on request.
 */
interface Scripted {
  port: number;
  /** Messages received, per stream. */
  streams: AgentMessage[][];
  /** Ends the newest stream with ABORTED after its next message. */
  abortNext(): void;
  /** Whether Hello gets a Welcome (default: true). */
  welcoming: boolean;
  /** For each TLS connection, in order: whether it resumed a session. */
  resumed: boolean[];
  close(): Promise<void>;
}

/** The ticket keys of every scripted server: a restarted one accepts the tickets of the one before (as a controller with tls.ticketKeyFile). */
const TICKET_KEYS = Buffer.alloc(48, 7);

async function startScriptedServer(pki: TestPki, heartbeatMs: number, port = 0, ticketKeys = TICKET_KEYS): Promise<Scripted> {
  const streams: AgentMessage[][] = [];
  let abort = false;
  let welcoming = true;
  const routes = (router: ConnectRouter) =>
    router.service(AgentService, {
      async *connect(requests) {
        const received: AgentMessage[] = [];
        streams.push(received);
        for await (const message of requests) {
          received.push(message);
          if (abort) {
            abort = false;
            throw new ConnectError("replaced", Code.Aborted);
          }
          if (message.payload.case === "hello") {
            if (!welcoming) continue;
            yield { payload: { case: "welcome", value: { sessionId: `s${streams.length}`, heartbeatInterval: durationFromMs(heartbeatMs), maxMessageBytes: 1 << 20, serverTime: timestampFromMs(Date.now()) } } } as ControllerMessage;
          } else if (message.payload.case === "alert") {
            yield { payload: { case: "alertAck", value: { alertId: message.payload.value.id, revision: message.payload.value.revision } } } as ControllerMessage;
          }
        }
      },
    });
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createSecureServer(
    { key: readFileSync(pki.controller.key), cert: readFileSync(pki.controller.cert), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: true, ticketKeys, sessionIdContext: "link-unit" },
    connectNodeAdapter({ routes }),
  );
  const resumed: boolean[] = [];
  server.on("secureConnection", (socket) => resumed.push(socket.isSessionReused()));
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    get welcoming() {
      return welcoming;
    },
    set welcoming(value: boolean) {
      welcoming = value;
    },
    port: (server.address() as AddressInfo).port,
    streams,
    resumed,
    abortNext: () => {
      abort = true;
    },
    async close() {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const alertMessage = (id: string): AgentMessage => create(AgentMessageSchema, { payload: { case: "alert", value: { id, revision: 1, kind: AlertKind.CPU_SUSTAINED } } });

describe("link client (real mTLS on loopback)", function () {
  this.timeout(20_000);
  let pki: TestPki;
  let server: Scripted | undefined;
  let client: LinkClient | undefined;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  afterEach(async () => {
    await client?.close();
    await server?.close();
    client = undefined;
    server = undefined;
  });

  async function connect(port: number, messages: () => AgentMessage[], received: ControllerMessage[], connectTimeout = 5_000, serverName = "localhost", ca = pki.ca) {
    const pending = {
      page: (after: number, limit: number) => messages().map((message, i) => ({ seq: i + 1, message })).filter((e) => e.seq > after).slice(0, limit),
      lastSeq: () => messages().length,
    };
    const certs = await pki.issueAgent("link-unit");
    return createLinkClient({
      addresses: [`127.0.0.1:${port}`],
      serverName,
      tls: { ca: readFileSync(ca), cert: readFileSync(certs.cert), key: readFileSync(certs.key) },
      link: { backoffInitial: 50, backoffMax: 200, keepaliveTime: 10_000, keepaliveTimeout: 5_000, maxMessageBytes: 1 << 20, connectTimeout },
      hello: () => create(HelloSchema, { agentId: "link-unit", finishedActionIds: ["done-1"] }),
      pending,
      outboxDepth: () => 7,
      onMessage: (m) => received.push(m),
      logger: silentLogger(),
      now: Date.now,
    });
  }

  it("sends Hello first, resends pending messages oldest first after Welcome, then live ones", async () => {
    server = await startScriptedServer(pki, 60_000);
    const received: ControllerMessage[] = [];
    client = await connect(server.port, () => [alertMessage("a1"), alertMessage("a2")], received);
    expect(client.send(alertMessage("early"))).to.equal(false);
    client.start();
    await client.waitConnected(5_000);
    expect(client.welcome()?.sessionId).to.equal("s1");
    expect(client.send(alertMessage("a3"))).to.equal(true);
    await until(() => received.length === 3);
    const stream = server.streams[0]!;
    expect(stream[0]!.payload.case).to.equal("hello");
    expect(stream[0]!.payload.case === "hello" && stream[0]!.payload.value.finishedActionIds).to.deep.equal(["done-1"]);
    expect(stream.slice(1).map((m) => m.payload.case === "alert" && m.payload.value.id)).to.deep.equal(["a1", "a2", "a3"]);
    expect(received.map((m) => m.payload.case === "alertAck" && m.payload.value.alertId)).to.deep.equal(["a1", "a2", "a3"]);
  });

  it("reopens the stream after the controller ends it, with a new Hello and the pending messages", async () => {
    server = await startScriptedServer(pki, 60_000);
    const received: ControllerMessage[] = [];
    let pending = [alertMessage("p1")];
    client = await connect(server.port, () => pending, received);
    client.start();
    await client.waitConnected(5_000);
    await until(() => received.length === 1);
    pending = [alertMessage("p2")];
    server.abortNext();
    client.send(alertMessage("trigger"));
    await until(() => server!.streams.length === 2 && server!.streams[1]!.length >= 2);
    await client.waitConnected(5_000);
    const second = server.streams[1]!;
    expect(second[0]!.payload.case).to.equal("hello");
    expect(second[1]!.payload.case === "alert" && second[1]!.payload.value.id).to.equal("p2");
  });

  it("sends heartbeats at the interval Welcome gives, with the outbox depth", async () => {
    server = await startScriptedServer(pki, 200);
    client = await connect(server.port, () => [], []);
    client.start();
    await client.waitConnected(5_000);
    await until(() => server!.streams[0]!.filter((m) => m.payload.case === "heartbeat").length >= 2, 3_000);
    const beat = server.streams[0]!.find((m) => m.payload.case === "heartbeat")!;
    expect(beat.payload.case === "heartbeat" && beat.payload.value.outboxDepth).to.equal(7);
  });

  it("keeps retrying while nothing listens and connects once the controller appears", async () => {
    const probe = await startScriptedServer(pki, 60_000);
    const port = probe.port;
    await probe.close();
    client = await connect(port, () => [], []);
    client.start();
    let timedOut = false;
    await client.waitConnected(300).catch(() => (timedOut = true));
    expect(timedOut).to.equal(true);
    expect(client.isConnected()).to.equal(false);
    server = await startScriptedServer(pki, 60_000, port);
    await client.waitConnected(5_000);
    expect(server.streams).to.have.length(1);
  });

  /** Connects, lets the TLS 1.3 ticket arrive, restarts the scripted controller on its port (with `ticketKeys`), and waits for the reconnect. */
  async function reconnectAcrossRestart(ticketKeys: typeof TICKET_KEYS = TICKET_KEYS): Promise<void> {
    server = await startScriptedServer(pki, 60_000);
    const port = server.port;
    client = await connect(port, () => [], []);
    client.start();
    await client.waitConnected(5_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.resumed).to.deep.equal([false]);
    await server.close();
    await until(() => !client!.isConnected());
    server = await startScriptedServer(pki, 60_000, port, ticketKeys);
    await client.waitConnected(5_000);
  }

  it("resumes its TLS session when it reconnects to a restarted controller, and is welcomed", async () => {
    await reconnectAcrossRestart();
    expect(server!.resumed).to.deep.equal([true]);
    expect(server!.streams[0]![0]!.payload.case).to.equal("hello");
    expect(client!.tlsHandshakes()).to.deep.include({ handshakes: 2, resumed: 1 });
  });

  it("makes a full handshake when the controller cannot resume the session (new ticket keys)", async () => {
    await reconnectAcrossRestart(Buffer.alloc(48, 9));
    expect(server!.resumed).to.deep.equal([false]);
    expect(client!.tlsHandshakes()).to.deep.include({ handshakes: 2, resumed: 0 });
  });

  it("gives up on a stream that gets no Welcome within connectTimeout and opens a new one", async () => {
    server = await startScriptedServer(pki, 60_000);
    server.welcoming = false;
    client = await connect(server.port, () => [], [], 200);
    client.start();
    await until(() => server!.streams.length >= 2, 5_000);
    expect(client.isConnected()).to.equal(false);
    server.welcoming = true;
    await client.waitConnected(5_000);
  });

  it("verifies the controller's certificate against serverName and the configured CA", async () => {
    server = await startScriptedServer(pki, 60_000);
    client = await connect(server.port, () => [], [], 5_000, "not-the-controller.example");
    client.start();
    let refused = false;
    await client.waitConnected(1_500).catch(() => (refused = true));
    expect(refused, "wrong name").to.equal(true);
    expect(server.streams).to.have.length(0);
    await client.close();

    client = await connect(server.port, () => [], [], 5_000, "localhost", pki.foreign.ca);
    client.start();
    refused = false;
    await client.waitConnected(1_500).catch(() => (refused = true));
    expect(refused, "foreign CA").to.equal(true);
    expect(server.streams).to.have.length(0);
    await client.close();

    client = await connect(server.port, () => [], [], 5_000, "localhost");
    client.start();
    await client.waitConnected(5_000);
  });
});
