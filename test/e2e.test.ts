// End-to-end system test: the whole product in network namespaces. Real
// nginx and sshd serve in a "server" namespace; an attacker and another
// client reach them from their own namespaces. An in-process agent follows
// nginx's access log and sshd's log (nginx-404 and ssh-session detectors) and
// carries out answers with real nftables and the real SSH-session responder
// inside the server namespace. It reaches an in-process controller (real
// SQLite store, mutual TLS on loopback, metrics endpoint on loopback) whose
// Telegram bridge talks to the fake Bot API, where the test reads the chat and
// taps buttons. The controller is stopped and started again in the middle of
// the SSH flow; the metrics endpoint is read with curl along the way.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfig } from "../agent/config.js";
import { readProc } from "../agent/proc/proc-sockets.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import type { ControllerConfig } from "../controller/config.js";
import { startController, type RunningController } from "../controller/controller.js";
import { createFakeBotApi, type FakeBotApi, type FakeMessage } from "../testing/fake-bot-api.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { curlMetrics, type MetricsScrape } from "./support/e2e-metrics.js";
import { hostUrl, httpStatus, tcpConnects, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { createResponderLab, recordExecutions, type RecordedExecution, type ResponderLab } from "./support/responder-lab.js";
import { reaped, sshLogin, startSshd, waitForAccepted, type SshdServer } from "./support/sshd.js";
import { exited } from "./support/child-exit.js";
import { givenResponders } from "./support/given-responders.js";

const CHAT = 4242;
const OPERATOR = { id: 77, username: "op" };
/** Answers the agent carries out here; power and process answers are left out (they would act on the host). */
const SAFE_ANSWERS = [Answer.ALLOW, Answer.IGNORE, Answer.BLOCK_IP, Answer.UNBLOCK_IP, Answer.CLOSE_SESSION];

function buttonLabels(message: FakeMessage): string[] {
  return message.replyMarkup?.inline_keyboard.flat().map((b) => b.text) ?? [];
}

function button(message: FakeMessage, label: string): string {
  const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
  if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
  return found.callback_data;
}

/** The "🕒 ..." line of an alert message (the detection time, formatted by the bridge). */
function timeLine(message: FakeMessage): string {
  const line = message.text.split("\n").find((l) => l.startsWith("🕒 "));
  if (!line) throw new Error(`no time line in ${message.text}`);
  return line;
}

describe("end to end: nginx and sshd in namespaces, agent, controller, Telegram, metrics", function () {
  this.timeout(120_000);
  let pki: TestPki | undefined;
  let rl: ResponderLab | undefined;
  let nginx: NginxServer | undefined;
  let sshd: SshdServer | undefined;
  let api: FakeBotApi | undefined;
  let dir: string | undefined;
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;
  const children: ChildProcess[] = [];

  let controllerConfig: ControllerConfig;
  let agentConfig: AgentConfig;
  let agentId: string;
  let attacker: LabHost;
  let other: LabHost;
  let metricsPort: number;
  /** Every action the agent's responders were handed: answer and action id. */
  const executions: RecordedExecution[] = [];
  const scrapes: Record<string, MetricsScrape> = {};

  const server = () => rl!.lab.server;
  const http = (from: LabHost) => httpStatus(from.ns, hostUrl(server().ipv4, nginx!.port), 1500);
  const ssh = (from: LabHost) => tcpConnects(from.ns, server().ipv4, sshd!.port, 1500);

  async function startTheController(): Promise<RunningController> {
    controller = await startController({ config: controllerConfig, logger: silentLogger() });
    return controller;
  }

  before(async () => {
    pki = await createTestPki();
    rl = await createResponderLab(2);
    [attacker, other] = rl.lab.clients as [LabHost, LabHost];
    nginx = await startNginx(rl.lab.server.ns);
    sshd = await startSshd(rl.lab.server.ns);
    api = createFakeBotApi();
    await api.start();
    dir = mkdtempSync(join(tmpdir(), "secarc-e2e-"));

    const port = await freeLoopbackPort();
    metricsPort = await freeLoopbackPort();
    controllerConfig = testControllerConfig(pki, dir, {
      listen: { host: "127.0.0.1", port },
      log: { level: "warn" },
      metrics: { listen: { host: "127.0.0.1", port: metricsPort } },
      telegram: { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } },
    });
    await startTheController();

    agentId = `e2e-web-${randomBytes(3).toString("hex")}`;
    const certs = await pki.issueAgent(agentId);
    agentConfig = parseConfig(
      agentConfigSchema,
      {
        ...testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "agent-state"), port }),
        detectors: {
          sshSession: { source: "file", authLog: sshd.authLog, rawNewlines: true },
          sshBruteForce: { enabled: false },
          cpuSustained: { enabled: false },
          nginx404: { accessLog: nginx.accessLog, warning: 5, critical: 40 },
        },
      },
      "e2e agent",
    );
    // The real responders, acting inside the server namespace; each execution is recorded.
    const responders = recordExecutions(rl.responders().responders, executions, SAFE_ANSWERS);
    agent = await startAgent({ config: agentConfig, logger: silentLogger(), responders: givenResponders(responders) });
    await agent.waitConnected(10_000);
    await eventually("the controller sees the agent online", () => controller!.onlineAgents().includes(agentId));
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await agent?.close().catch(() => {});
    await controller?.close().catch(() => {});
    await api?.stop().catch(() => {});
    await sshd?.stop().catch(() => {});
    await nginx?.stop().catch(() => {});
    await rl?.cleanup().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
  });

  it("the metrics endpoint answers curl before any event: one agent connected, no alert, no action, queue depth 0", async () => {
    const m = await curlMetrics(metricsPort);
    scrapes.before = m;
    expect(m.value("secarc_agents_connected")).to.equal(1);
    expect(m.value("secarc_agents_known")).to.equal(1);
    expect(m.value("secarc_agent_connects_total")).to.equal(1);
    expect(m.value("secarc_agent_reconnects_total")).to.equal(0);
    expect(m.value("secarc_telegram_queue_depth")).to.equal(0);
    expect(m.value("secarc_telegram_rate_limited_total")).to.equal(0);
    expect(m.types.get("secarc_alerts_total")).to.equal("counter");
    expect(m.types.get("secarc_actions_total")).to.equal("counter");
    expect([...m.samples.keys()].filter((k) => k.startsWith("secarc_alerts_total{") || k.startsWith("secarc_actions_total{"))).to.deep.equal([]);
  });

  it("a scan of nginx → alert with buttons in the chat → Block IP → the attacker's HTTP and SSH fail, the other client's HTTP works → message reads done", async () => {
    // Before: both clients reach nginx and sshd.
    expect(await http(attacker)).to.equal(200);
    expect(await ssh(attacker)).to.equal(true);
    expect(await http(other)).to.equal(200);

    // The scan: 8 missing pages in one curl (warning threshold: 5).
    const args = ["-s", "--max-time", "20", "-w", "%{http_code}\\n"];
    for (let i = 0; i < 8; i++) args.push("-o", "/dev/null", hostUrl(server().ipv4, nginx!.port, `/scan/${i}.php`));
    const scan = await rl!.lab.exec(attacker, "curl", args, { timeoutMs: 30_000 });
    expect(scan.stdout.trim().split("\n")).to.deep.equal(Array(8).fill("404"));

    const message = await api!.waitFor(() => api!.messagesIn(CHAT).find((m) => m.text.includes(`from ${attacker.ipv4}`)), 15_000);
    expect(buttonLabels(message)).to.deep.equal(["Ignore", "Block IP", "Block on all servers", "Allow"]);
    const alertId = (await controller!.store.listOpenAlerts(10)).find((r) => r.alert.kind === AlertKind.HTTP_404_BURST)!.alertId;

    const queryId = api!.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    const reply = await api!.waitFor(() => api!.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 10_000);
    expect(reply.text).to.equal(`Block IP: sent to ${agentId}.`);

    await api!.waitFor(() => message.text.includes("done:") || undefined, 15_000);
    expect(message.text).to.equal(
      [
        "🟠 <b>WARNING</b> · HTTP 404 burst",
        `Server: <b>${agentId}</b>`,
        `5 HTTP 404s in 60 s from ${attacker.ipv4} — last paths: /scan/0.php /scan/1.php /scan/2.php /scan/3.php /scan/4.php … (log: ${nginx!.accessLog})`,
        timeLine(message),
        "<i>👤 Block IP chosen by @op</i>",
        `<i>✅ done: ${attacker.ipv4} blocked for 24h</i>`,
      ].join("\n"),
    );
    expect(message.replyMarkup).to.equal(undefined);

    // The attacker is cut off (HTTP and SSH), the other client is not.
    expect(await http(attacker)).to.equal(0);
    expect(await ssh(attacker)).to.equal(false);
    expect(await http(other)).to.equal(200);
    expect(await ssh(other)).to.equal(true);

    const actions = (await controller!.store.listActionsForAlert(alertId));
    expect(actions.map((a) => [Answer[a.answer], a.state])).to.deep.equal([["BLOCK_IP", "done"]]);
    expect(executions.filter((e) => e.actionId === actions[0]!.actionId)).to.have.length(1);
    expect(api!.messagesIn(CHAT)).to.have.length(1);

    const m = await curlMetrics(metricsPort);
    scrapes.afterBlock = m;
    expect(m.value("secarc_alerts_total", { kind: "http_404_burst", severity: "warning" })).to.equal(1);
    expect(m.value("secarc_actions_total", { answer: "block_ip", result: "done" })).to.equal(1);
    expect(m.value("secarc_agents_connected")).to.equal(1);
    expect(m.value("secarc_telegram_queue_depth")).to.equal(0);
  });

  it("an SSH login → alert → controller restarted → Close session → that session ends, sshd still accepts → message reads done, action run once", async () => {
    const session = sshLogin(other.ns, sshd!, { host: server().ipv4, command: "sleep 300" });
    children.push(session);
    const accepted = await waitForAccepted(sshd!, other.ipv4, 15_000);
    const message = await api!.waitFor(() => api!.messagesIn(CHAT).find((m) => m.text.includes(`from ${other.ipv4}`)), 15_000);
    expect(buttonLabels(message)).to.deep.equal(["Allow", "Close session", "Block IP"]);
    const alertRecord = (await controller!.store.listOpenAlerts(10)).find((r) => r.alert.kind === AlertKind.SSH_SESSION)!;
    expect(alertRecord.alert.subject.case === "sshSession" && alertRecord.alert.subject.value).to.deep.include({ sourceIp: other.ipv4, sourcePort: accepted.port, sshdPid: accepted.pid });

    const m1 = await curlMetrics(metricsPort);
    scrapes.afterLogin = m1;
    expect(m1.value("secarc_alerts_total", { kind: "ssh_session", severity: "info" })).to.equal(1);

    // The controller goes down with the alert on screen; the operator taps meanwhile.
    await controller!.close();
    controller = undefined;
    await eventually("the agent notices the controller is gone", () => !agent!.isConnected(), 10_000);
    const queryId = api!.tapButton(CHAT, message.messageId, button(message, "Close session"), OPERATOR);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(api!.answeredCallbacks.find((a) => a.callbackQueryId === queryId)).to.equal(undefined);
    expect(await exited(session, 0)).to.equal(false);

    // Started again on the same store and port: the tap is picked up, the agent reconnects.
    await startTheController();
    const reply = await api!.waitFor(() => api!.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 15_000);
    expect([`Close session: sent to ${agentId}.`, `Close session: queued, ${agentId} is offline.`]).to.include(reply.text);
    await agent!.waitConnected(10_000);

    // That session ends; the listener is still there and accepts connections.
    expect(await exited(session, 10_000)).to.equal(true);
    expect(await reaped(accepted.pid), `pid ${accepted.pid} state ${readProc(accepted.pid)?.state}`).to.equal(true);
    expect(sshd!.process.exitCode).to.equal(null);
    expect(await ssh(other)).to.equal(true);

    const doneLine = `<i>✅ done: closed SSH session sshd: ${sshd!.user} [priv] (pid ${accepted.pid}) from ${other.ipv4}:${accepted.port}</i>`;
    await api!.waitFor(() => message.text.includes("done:") || undefined, 15_000);
    const head = [
      "🔵 <b>INFO</b> · SSH login",
      `Server: <b>${agentId}</b>`,
      `New SSH login: ${sshd!.user} from ${other.ipv4} port ${accepted.port} (publickey)`,
      timeLine(message),
      "<i>👤 Close session chosen by @op</i>",
      doneLine,
    ];
    // The done edit may already carry the resolution (edits of one message are coalesced).
    expect(message.history.some((text) => text.startsWith(head.join("\n"))), message.history.join("\n---\n")).to.equal(true);
    expect(message.replyMarkup).to.equal(undefined);
    // sshd logs nothing for a killed session: the agent sees its sshd gone and resolves the alert.
    await api!.waitFor(() => message.text.includes("resolved:") || undefined, 10_000);
    expect(message.text).to.equal([...head, "<i>✔️ resolved: the condition ended</i>"].join("\n"));
    expect((await controller!.store.getAlert(alertRecord.alertId))!.alert.state).to.equal(AlertState.RESOLVED);

    // Exactly once: one action in the store, done; the responder ran it once.
    const actions = (await controller!.store.listActionsForAlert(alertRecord.alertId));
    expect(actions.map((a) => [Answer[a.answer], a.state])).to.deep.equal([["CLOSE_SESSION", "done"]]);
    expect(executions.filter((e) => e.actionId === actions[0]!.actionId)).to.have.length(1);

    const m2 = await curlMetrics(metricsPort);
    scrapes.afterRestart = m2;
    expect(m2.value("secarc_agents_connected")).to.equal(1);
    expect(m2.value("secarc_agent_reconnects_total")).to.equal(1);
    expect(m2.value("secarc_actions_total", { answer: "close_session", result: "done" })).to.equal(1);
    expect(m2.value("secarc_alert_revisions_total", { kind: "ssh_session" })).to.equal(1);
    expect(m2.value("secarc_telegram_queue_depth")).to.be.a("number");
  });

  it("the counters moved between the curls", () => {
    const { before: b, afterBlock: a, afterLogin: l, afterRestart: r } = scrapes;
    expect([b, a, l, r].every(Boolean), "every earlier step scraped the metrics").to.equal(true);
    const alerts = (m: MetricsScrape) => [...m.samples].filter(([k]) => k.startsWith("secarc_alerts_total{")).reduce((sum, [, v]) => sum + v, 0);
    expect([alerts(b!), alerts(a!), alerts(l!)]).to.deep.equal([0, 1, 2]);
    expect(b!.value("secarc_actions_total", { answer: "block_ip", result: "done" })).to.equal(undefined);
    expect(a!.value("secarc_actions_total", { answer: "block_ip", result: "done" })).to.equal(1);
    expect(l!.value("secarc_actions_total", { answer: "close_session", result: "done" })).to.equal(undefined);
    expect(r!.value("secarc_actions_total", { answer: "close_session", result: "done" })).to.equal(1);
    expect([b!.value("secarc_agent_reconnects_total"), r!.value("secarc_agent_reconnects_total")]).to.deep.equal([0, 1]);
    for (const m of [b!, a!, l!, r!]) expect(m.types.get("secarc_telegram_queue_depth")).to.equal("gauge");
  });
});
