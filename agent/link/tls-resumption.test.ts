import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { expect } from "chai";
import * as grpc from "@grpc/grpc-js";
import { freeLoopbackPort } from "../../test/support/agent-process.js";
import { createTestPki, type TestPki } from "../../test/support/pki.js";
import { createEndpointCredentials, hostOf } from "./tls-resumption.js";

/**
 * The agent's own channel credentials: a closed channel's subchannel, which
 * grpc-js 1.14 still lets dial once after its backoff, opens no connection
 * to the controller. Real TLS servers on loopback.
 */
describe("link credentials (tls-resumption.ts)", function () {
  this.timeout(20_000);
  let pki: TestPki;
  before(async () => (pki = await createTestPki()));
  after(() => pki.cleanup());

  const material = async () => {
    const agent = await pki.issueAgent("creds-unit");
    return { ca: readFileSync(pki.ca), cert: readFileSync(agent.cert), key: readFileSync(agent.key) };
  };

  it("hostOf takes the host of host:port, IPv6 without brackets", () => {
    expect(hostOf("controller.example:7443")).to.equal("controller.example");
    expect(hostOf("10.0.0.5:7443")).to.equal("10.0.0.5");
    expect(hostOf("[2001:db8::1]:7443")).to.equal("2001:db8::1");
  });

  /** A TLS server on `port` (0: any) that answers each connection with one byte, so that TLS 1.3 tickets reach the client. */
  async function tlsServer(port: number, files: { key: string; cert: string }, ticketKeys = Buffer.alloc(48, 5)): Promise<{ port: number; resumed: boolean[]; close(): Promise<void> }> {
    const resumed: boolean[] = [];
    const server = createTlsServer({ key: readFileSync(files.key), cert: readFileSync(files.cert), ca: readFileSync(pki.ca), requestCert: true, ticketKeys }, (socket) => {
      resumed.push(socket.isSessionReused());
      socket.write("x");
      socket.on("error", () => undefined);
    });
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return { port: (server.address() as AddressInfo).port, resumed, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  /** One handshake through the credentials' connector, as grpc-js makes it: resolves once done (and a ticket had a moment to come), or with the error. */
  async function handshake(credentials: ReturnType<typeof createEndpointCredentials>, port: number): Promise<string> {
    const connector = credentials.for(`127.0.0.1:${port}`)._createSecureConnector(undefined, {});
    await connector.waitForReady();
    const socket = await new Promise<Socket>((resolve, reject) => {
      const tcp = tcpConnect(port, "127.0.0.1", () => resolve(tcp));
      tcp.once("error", reject);
    });
    try {
      const { socket: secure } = await connector.connect(socket);
      await new Promise((resolve) => setTimeout(resolve, 100));
      secure.destroy();
      return "connected";
    } catch (err) {
      return `failed: ${(err as Error).message}`;
    }
  }

  it("keeps the ticket when a connection is reset during the handshake, and forgets it when the controller's certificate is refused", async () => {
    const credentials = createEndpointCredentials(await material(), "localhost");
    let server = await tlsServer(0, pki.controller);
    const port = server.port;
    expect(await handshake(credentials, port)).to.equal("connected");
    expect(await handshake(credentials, port)).to.equal("connected");
    expect(server.resumed).to.deep.equal([false, true]);
    await server.close();

    // A controller turning a herd away closes the connection before any TLS.
    const refusing = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => refusing.listen(port, "127.0.0.1", resolve));
    expect(await handshake(credentials, port)).to.match(/^failed/);
    await new Promise((resolve) => refusing.close(resolve));
    server = await tlsServer(port, pki.controller);
    expect(await handshake(credentials, port)).to.equal("connected");
    expect(server.resumed, "the ticket survived the reset").to.deep.equal([true]);
    await server.close();

    // Something else answers (without the controller's ticket keys) with a certificate of another CA: refused, and the ticket is forgotten.
    const impostor = await tlsServer(port, pki.foreign.agent, Buffer.alloc(48, 6));
    expect(await handshake(credentials, port)).to.match(/^failed/);
    await impostor.close();
    server = await tlsServer(port, pki.controller);
    try {
      expect(await handshake(credentials, port)).to.equal("connected");
      expect(server.resumed, "a full handshake after the refusal").to.deep.equal([false]);
      expect(credentials.stats()).to.deep.include({ handshakes: 4, resumed: 2 });
    } finally {
      await server.close();
    }
  });

  it("a closed client's call that failed while nothing listened dials nothing once the controller is up", async () => {
    const port = await freeLoopbackPort();

    const credentials = createEndpointCredentials(await material(), "localhost");
    const address = `127.0.0.1:${port}`;
    const client = new grpc.Client(address, credentials.for(address), { "grpc.use_local_subchannel_pool": 1, "grpc.initial_reconnect_backoff_ms": 500 });
    const failed = new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeBidiStreamRequest("/secarc.v1.AgentService/Connect", (m: Buffer) => m, (m: Buffer) => m);
      call.on("error", () => undefined);
      call.on("status", (status) => {
        call.cancel();
        client.close();
        resolve(status);
      });
      call.write(Buffer.alloc(0));
    });
    expect((await failed).code).to.equal(grpc.status.UNAVAILABLE);

    // The controller comes back before the subchannel's backoff (500 ms) ends.
    const secured: boolean[] = [];
    const tcp: Socket[] = [];
    const server = http2.createSecureServer({ key: readFileSync(pki.controller.key), cert: readFileSync(pki.controller.cert), ca: readFileSync(pki.ca), requestCert: true });
    server.on("connection", (socket: Socket) => tcp.push(socket));
    server.on("secureConnection", (socket) => secured.push(socket.isSessionReused()));
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // grpc-js tried to dial again; the credentials stopped it before the TCP connection.
      expect(credentials.stats().abandoned, "dials stopped").to.be.at.least(1);
      expect(tcp, "TCP connections").to.have.length(0);
      expect(secured, "TLS sessions").to.deep.equal([]);
      expect(credentials.stats()).to.deep.include({ handshakes: 0, resumed: 0 });
    } finally {
      for (const socket of tcp) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
