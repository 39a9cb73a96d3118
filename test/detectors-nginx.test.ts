// System test (acceptance 2): real nginx (Debian package) serving in a
// network namespace, clients in a second namespace; a real agent (detectors
// from its config) follows nginx's real access log and sends its alerts over
// mutual TLS to a real controller, whose store the test reads.
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AlertKind, AlertState, Severity, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { startLinkedAgent, type LinkedAgent } from "./support/detectors-link.js";
import { createNetnsPair, stopChild, waitFor, type NetnsPair } from "./support/detectors-netns.js";

function nginxConf(dir: string, listen: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log combined;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen ${listen}:8080;
    root ${dir}/www;
  }
}
`;
}

describe("nginx-404 detector against real nginx in a network namespace", function () {
  this.timeout(60_000);
  let pair: NetnsPair | undefined;
  let nginx: ChildProcess | undefined;
  let linked: LinkedAgent | undefined;
  let dir: string;
  const stored = (): Alert[] => linked!.stored(AlertKind.HTTP_404_BURST).map((r) => r.alert);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-nginx-sys-"));
    chmodSync(dir, 0o755); // nginx's workers run as nobody and must reach www/
    mkdirSync(join(dir, "www"));
    writeFileSync(join(dir, "www", "index.html"), "hello\n");
    pair = await createNetnsPair("n404");
    writeFileSync(join(dir, "nginx.conf"), nginxConf(dir, pair.serverIp));
    writeFileSync(join(dir, "access.log"), "");
    nginx = pair.spawn(pair.server, "nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: "ignore" });
    const p = pair;
    await waitFor(
      () =>
        p.exec(p.client, "curl", ["-s", "-o", "/dev/null", "--max-time", "1", `http://${p.serverIp}:8080/`]).then(
          () => true,
          () => false,
        ),
      "nginx to answer",
      10_000,
    );
    linked = await startLinkedAgent({
      sshSession: { enabled: false },
      sshBruteForce: { enabled: false },
      cpuSustained: { enabled: false },
      nginx404: { accessLog: join(dir, "access.log") },
    });
  });

  after(async () => {
    await linked?.close();
    await stopChild(nginx, "SIGQUIT");
    await pair?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  /** n requests for missing pages from `from`, in one curl (one connection, keep-alive). */
  async function missing(from: string, n: number): Promise<string[]> {
    const args = ["-s", "--interface", from, "--max-time", "20", "-w", "%{http_code}\\n"];
    for (let i = 0; i < n; i++) args.push("-o", "/dev/null", `http://${pair!.serverIp}:8080/missing/${from}/${i}.php`);
    const { stdout } = await pair!.exec(pair!.client, "curl", args, 30_000);
    return stdout.trim().split("\n");
  }

  const ipOf = (a: Alert) => (a.subject.case === "httpErrors" ? a.subject.value.clientIp : "");

  it("10 missing pages from one client raise no alert", async () => {
    const codes = await missing(pair!.clientIp2, 10);
    expect(codes).to.deep.equal(Array(10).fill("404"));
    // give the follower time to read them (it reads on file events, and polls every second)
    await new Promise((r) => setTimeout(r, 1500));
    expect(stored()).to.deep.equal([]);
  });

  it("60 missing pages from another client: one critical alert for that client's address reaches the controller", async () => {
    const codes = await missing(pair!.clientIp, 60);
    expect(codes).to.deep.equal(Array(60).fill("404"));
    await waitFor(() => stored().some((a) => a.severity === Severity.CRITICAL), "a critical alert in the controller's store", 5000);
    await new Promise((r) => setTimeout(r, 500));
    const alerts = stored();
    expect(alerts).to.have.length(1);
    expect(ipOf(alerts[0]!)).to.equal(pair!.clientIp);
    // the same alert, escalated: revision 2 is the critical one
    expect(`${Severity[alerts[0]!.severity]}/${AlertState[alerts[0]!.state]}#${alerts[0]!.revision}`).to.equal("CRITICAL/OPEN#2");
    expect(linked!.agent.outboxDepth()).to.equal(0);
    const subject = alerts[0]!.subject.case === "httpErrors" ? alerts[0]!.subject.value : undefined;
    expect(subject?.count).to.equal(50);
    expect(subject?.recentPaths.at(-1)).to.equal(`/missing/${pair!.clientIp}/49.php`);
  });
});
