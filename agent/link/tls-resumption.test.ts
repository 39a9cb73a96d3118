import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { expect } from "chai";
import * as grpc from "@grpc/grpc-js";
import { createTestPki, type TestPki } from "../../test/support/pki.js";
import { createEndpointCredentials, hostOf } from "./tls-resumption.js";

/**
 * The agent's own channel credentials: a closed channel's subchannel, which
 * grpc-js 1.14 still lets dial once after its backoff, gets no TLS session
 * of the controller. Real TLS servers on loopback.
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

  it("a closed client's call that failed while nothing listened dials no TLS session once the controller is up", async () => {
    // A free port, then nothing on it.
    const probe = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

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
      // grpc-js dialed (the TCP connection came), the credentials refused it before TLS.
      expect(tcp.length, "dials after the close").to.be.at.least(1);
      expect(secured, "TLS sessions").to.deep.equal([]);
      expect(credentials.stats()).to.deep.equal({ handshakes: 0, resumed: 0, abandoned: tcp.length });
    } finally {
      for (const socket of tcp) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
