// System test (acceptance 2): real nginx (Debian package) serving in a
// network namespace, clients in other namespaces; a real agent (detectors
// from its config) follows nginx's real access log and sends its alerts over
// mutual TLS to a real controller, whose store the test reads.
import { expect } from "chai";
import { AlertKind, AlertState, Severity, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { startLinkedAgent, type LinkedAgent } from "./support/detectors-link.js";
import { createLab, hostUrl, type Lab, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";

async function until(check: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("nginx-404 detector against real nginx in a network namespace", function () {
  this.timeout(60_000);
  let lab: Lab | undefined;
  let nginx: NginxServer | undefined;
  let linked: LinkedAgent | undefined;
  const stored = async (): Promise<Alert[]> => (await linked!.stored(AlertKind.HTTP_404_BURST)).map((r) => r.alert);
  const ipOf = (a: Alert) => (a.subject.case === "httpErrors" ? a.subject.value.clientIp : "");

  before(async () => {
    lab = await createLab({ clients: 2 });
    nginx = await startNginx(lab.server.ns);
    linked = await startLinkedAgent({
      sshSession: { enabled: false },
      sshBruteForce: { enabled: false },
      cpuSustained: { enabled: false },
      nginx404: { accessLog: nginx.accessLog },
    });
  });

  after(async () => {
    await linked?.close();
    await nginx?.stop();
    await lab?.cleanup();
  });

  /** n requests for missing pages from `client`, in one curl (one keep-alive connection). */
  async function missing(client: LabHost, n: number): Promise<string[]> {
    const args = ["-s", "--max-time", "20", "-w", "%{http_code}\\n"];
    for (let i = 0; i < n; i++) args.push("-o", "/dev/null", hostUrl(lab!.server.ipv4, nginx!.port, `/missing/${client.ipv4}/${i}.php`));
    const result = await lab!.exec(client, "curl", args, { timeoutMs: 30_000 });
    return result.stdout.trim().split("\n");
  }

  it("10 missing pages from one client raise no alert", async () => {
    const codes = await missing(lab!.clients[1]!, 10);
    expect(codes).to.deep.equal(Array(10).fill("404"));
    // give the follower time to read them (it reads on file events, and polls every second)
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stored()).to.deep.equal([]);
  });

  it("60 missing pages from another client: one critical alert for that client's address reaches the controller", async () => {
    const client = lab!.clients[0]!;
    const codes = await missing(client, 60);
    expect(codes).to.deep.equal(Array(60).fill("404"));
    await until(async () => (await stored()).some((a) => a.severity === Severity.CRITICAL), "a critical alert in the controller's store", 5000);
    await new Promise((r) => setTimeout(r, 500));
    const alerts = await stored();
    expect(alerts).to.have.length(1);
    expect(ipOf(alerts[0]!)).to.equal(client.ipv4);
    // the same alert, escalated: revision 2 is the critical one
    expect(`${Severity[alerts[0]!.severity]}/${AlertState[alerts[0]!.state]}#${alerts[0]!.revision}`).to.equal("CRITICAL/OPEN#2");
    expect(linked!.agent.outboxDepth()).to.equal(0);
    const subject = alerts[0]!.subject.case === "httpErrors" ? alerts[0]!.subject.value : undefined;
    expect(subject?.count).to.equal(50);
    expect(subject?.recentPaths.at(-1)).to.equal(`/missing/${client.ipv4}/49.php`);
  });
});

describe("web detector against real nginx: a JSON log_format (escape=json), a glob, a trusted proxy", function () {
  this.timeout(60_000);
  const FORMAT = `escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request","status":$status,'
    '"request_time":$request_time,"ua":"$http_user_agent","xff":"$http_x_forwarded_for"}'`;
  let lab: Lab | undefined;
  let nginx: NginxServer | undefined;
  let linked: LinkedAgent | undefined;
  const stored = async (): Promise<Alert[]> => (await linked!.stored(AlertKind.HTTP_404_BURST)).map((r) => r.alert);
  const subjectOf = (a: Alert) => (a.subject.case === "httpErrors" ? a.subject.value : undefined);

  before(async () => {
    lab = await createLab({ clients: 2 });
    nginx = await startNginx(lab.server.ns, { logFormat: FORMAT });
    linked = await startLinkedAgent({
      sshSession: { enabled: false },
      sshBruteForce: { enabled: false },
      cpuSustained: { enabled: false },
      nginx404: { paths: [`${nginx.dir}/*access.log`], format: FORMAT, trustedProxies: [lab.clients[0]!.ipv4] },
    });
  });

  after(async () => {
    await linked?.close();
    await nginx?.stop();
    await lab?.cleanup();
  });

  async function missing(client: LabHost, n: number, headers: string[]): Promise<string[]> {
    const args = ["-s", "--max-time", "20", "-w", "%{http_code}\\n", ...headers.flatMap((h) => ["-H", h])];
    for (let i = 0; i < n; i++) args.push("-o", "/dev/null", hostUrl(lab!.server.ipv4, nginx!.port, `/missing/${i}.php`));
    const result = await lab!.exec(client, "curl", args, { timeoutMs: 30_000 });
    return result.stdout.trim().split("\n");
  }

  it("behind the trusted proxy the client is X-Forwarded-For's right-most untrusted address; elsewhere the header and forged text are ignored", async () => {
    const proxy = lab!.clients[0]!;
    const direct = lab!.clients[1]!;
    expect(await missing(proxy, 25, ["X-Forwarded-For: 6.6.6.6, 203.0.113.77"])).to.deep.equal(Array(25).fill("404"));
    const forged = 'User-Agent: x","remote_addr":"6.6.6.6","status":404,"xff":"6.6.6.6';
    expect(await missing(direct, 25, ["X-Forwarded-For: 203.0.113.99", forged])).to.deep.equal(Array(25).fill("404"));
    await until(async () => (await stored()).length >= 2, "two alerts in the controller's store", 10_000);
    await new Promise((r) => setTimeout(r, 500));
    const clients = (await stored()).map((a) => subjectOf(a)?.clientIp).sort();
    expect(clients).to.deep.equal(["203.0.113.77", direct.ipv4].sort());
    for (const alert of (await stored())) expect(subjectOf(alert)?.logFile).to.equal(nginx!.accessLog);
  });
});
