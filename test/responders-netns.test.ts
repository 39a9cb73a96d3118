import { existsSync, readFileSync } from "node:fs";
import { expect } from "chai";
import { createLab, hostUrl, httpStatus, namespacePids, nsExec, tcpConnects } from "./support/netns.js";
import { startNginx } from "./support/nginx.js";

/** The namespace lab the system tests stand on: addressing, reachability, cleanup. */
describe("test support: network-namespace lab", function () {
  this.timeout(30_000);

  it("connects every client to the server over IPv4 and IPv6, and cleanup removes namespaces and their processes", async () => {
    const lab = await createLab({ clients: 2 });
    let cleaned = false;
    try {
      expect(lab.server.ns).to.match(/^sa[0-9a-f]{6}-srv$/);
      expect(lab.clients.map((c) => c.ns)).to.deep.equal([`${lab.id}-c0`, `${lab.id}-c1`]);
      expect(existsSync(`/run/netns/${lab.server.ns}`)).to.equal(true);
      const addrs = await nsExec(lab.server.ns, "ip", ["-br", "addr", "show", "br0"]);
      expect(addrs.stdout).to.contain(`${lab.server.ipv4}/24`).and.contain(`${lab.server.ipv6}/64`);

      const nginx = await startNginx(lab.server.ns);
      expect(readFileSync(nginx.accessLog, "utf8")).to.equal("");
      for (const client of lab.clients) {
        expect(await httpStatus(client.ns, hostUrl(lab.server.ipv4))).to.equal(200);
        expect(await httpStatus(client.ns, hostUrl(lab.server.ipv6, 80, "/missing"))).to.equal(404);
      }
      const log = readFileSync(nginx.accessLog, "utf8").trim().split("\n");
      expect(log).to.have.length(4);
      expect(log[1]).to.match(new RegExp(`^${lab.clients[0]!.ipv6.replace(/\./g, "\\.")} - - \\[[^\\]]+\\] "GET /missing HTTP/1.1" 404 \\d+ "-" "curl/`));
      // Nothing listens on 81; the host's loopback is not the lab's.
      expect(await tcpConnects(lab.clients[0]!.ns, lab.server.ipv4, 81, 1000)).to.equal(false);
      await nginx.stop();
      expect(existsSync(nginx.dir)).to.equal(false);

      // A process left behind is killed by cleanup.
      const straggler = lab.spawn(lab.server, "sleep", ["60"]);
      await new Promise((r) => setTimeout(r, 100));
      expect(await namespacePids(lab.server.ns)).to.include(straggler.pid);
      const gone = new Promise((r) => straggler.once("exit", r));
      await lab.cleanup();
      cleaned = true;
      await gone;
      expect(existsSync(`/run/netns/${lab.server.ns}`)).to.equal(false);
      expect(existsSync(`/run/netns/${lab.clients[1]!.ns}`)).to.equal(false);
    } finally {
      if (!cleaned) await lab.cleanup();
    }
  });
});
