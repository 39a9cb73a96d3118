import { expect } from "chai";
import { createConnection, createServer, type AddressInfo, type Socket } from "node:net";
import { tcpConnectionsOf } from "../proc/proc-sockets.js";
import { resolveSshdPid } from "./sshd-pid-resolver.js";

/** Opens a loopback connection; resolves to the server side's view of the client. */
async function connect(host: string): Promise<{ ip: string; port: number; close(): void }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const client = createConnection({ host, port: (server.address() as AddressInfo).port });
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));
  return {
    ip: client.localAddress!,
    port: client.localPort!,
    close() {
      client.destroy();
      for (const s of accepted) s.destroy();
      server.close();
    },
  };
}

describe("sshd PID lookup through /proc", () => {
  for (const host of ["127.0.0.1", "::1"]) {
    it(`finds no sshd for a ${host} connection held by a process that is not sshd`, async () => {
      const c = await connect(host);
      try {
        // the connection is visible in /proc (this process holds both ends)...
        const held = tcpConnectionsOf(process.pid).filter((conn) => conn.localPort === c.port || conn.remotePort === c.port);
        expect(held.length).to.be.greaterThan(0);
        // ...but this process is not sshd: no PID
        expect(resolveSshdPid(c.ip, c.port)).to.equal(undefined);
      } finally {
        c.close();
      }
    });
  }

  it("refuses what is not an IP", () => {
    expect(resolveSshdPid("not-an-ip", 22)).to.equal(undefined);
  });
});
