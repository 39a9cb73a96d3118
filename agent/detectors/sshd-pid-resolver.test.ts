import { expect } from "chai";
import { readFileSync } from "node:fs";
import { createConnection, createServer, type AddressInfo, type Socket } from "node:net";
import { procNetAddresses, resolveSshdPid } from "./sshd-pid-resolver.js";

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
    it(`encodes ${host} connections as the kernel lists them in /proc/net/tcp${host.includes(":") ? "6" : ""}`, async () => {
      const c = await connect(host);
      try {
        const encoded = procNetAddresses(c.ip, c.port);
        const table = readFileSync(`/proc/self/net/${host.includes(":") ? "tcp6" : "tcp"}`, "utf8");
        const remotes = table
          .split("\n")
          .slice(1)
          .map((l) => l.trim().split(/\s+/)[2]);
        expect(remotes).to.include(host.includes(":") ? encoded.tcp6 : encoded.tcp);
        // this process holds the connection, but it is not sshd: no PID
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
