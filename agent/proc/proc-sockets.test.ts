import { expect } from "chai";
import { createServer, connect, type Server, type Socket } from "node:net";
import { decodeProcAddress, parseTcpTable, readProc, tcpConnectionsOf } from "./proc-sockets.js";

describe("proc sockets", () => {
  it("decodes /proc/net/tcp and tcp6 addresses (host byte order words)", () => {
    expect(decodeProcAddress("0100007F:0016")).to.deep.equal({ ip: "127.0.0.1", port: 22 });
    expect(decodeProcAddress("EC0500FD00005B000000000010000000:A364")).to.deep.equal({ ip: "fd00:5ec:5b::10", port: 41828 });
    expect(decodeProcAddress("0000000000000000FFFF00000100007F:0050")).to.deep.equal({ ip: "127.0.0.1", port: 80 });
    expect(decodeProcAddress("00000000000000000000000000000000:0000")).to.deep.equal({ ip: "::", port: 0 });
  });

  it("parses a tcp table with states and inodes", () => {
    const table = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 64692 1 0 100 0 0 10 0",
      "   1: 0100007F:0016 0100007F:A364 01 00000000:00000000 02:000AFC2A 00000000     0        0 66025 2 0 20 4 14 21 -1",
    ].join("\n");
    expect(parseTcpTable(table)).to.deep.equal([
      { localIp: "0.0.0.0", localPort: 22, remoteIp: "0.0.0.0", remotePort: 0, state: "LISTEN", inode: "64692" },
      { localIp: "127.0.0.1", localPort: 22, remoteIp: "127.0.0.1", remotePort: 41828, state: "ESTABLISHED", inode: "66025" },
    ]);
  });

  it("finds this process's own listening and established sockets", async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    const client: Socket = connect(port, "127.0.0.1");
    await new Promise((r) => client.once("connect", r));
    try {
      const mine = tcpConnectionsOf(process.pid);
      expect(mine.some((c) => c.state === "LISTEN" && c.localPort === port)).to.equal(true);
      expect(mine.some((c) => c.state === "ESTABLISHED" && c.remoteIp === "127.0.0.1" && c.remotePort === port)).to.equal(true);
      expect(mine.some((c) => c.state === "ESTABLISHED" && c.localPort === port && c.remotePort === client.localPort)).to.equal(true);
    } finally {
      client.destroy();
      server.close();
    }
  });

  it("reads a process's identity and start time", () => {
    const me = readProc(process.pid)!;
    expect(me.pid).to.equal(process.pid);
    expect(me.ppid).to.equal(process.ppid);
    expect(me.startTicks > 0n).to.equal(true);
    expect(me.cmdline).to.contain("node");
    expect(readProc(4_100_000)).to.equal(undefined);
  });
});
