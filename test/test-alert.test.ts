import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfigInput } from "../agent/config.js";
import type { Responder } from "../agent/responders/responder.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import type { ControllerConfigInput } from "../controller/config.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import type { FakeMessage } from "../testing/fake-bot-api.js";
import { Answer, ResultStatus, type ResponseAction } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { captureLog, testControllerConfig } from "./support/controller-harness.js";
import type { CertPaths } from "./support/pki.js";
import { connectRawAgent } from "./support/raw-agent-client.js";
import { useTelegramWorld } from "./support/telegram-world.js";
import { givenResponders } from "./support/given-responders.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHAT = 1001;
const CHAT_ES = -100123;
const OPERATOR = { id: 77, username: "op" };

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `secarc` command (bin/secarc.js) and resolves with its exit code and output. */
function secarc(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, "bin/secarc.js"), ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Carries out every answer by recording it. */
function createRecordingResponder(): Responder & { executed: ResponseAction[] } {
  const executed: ResponseAction[] = [];
  return {
    name: "recording",
    answers: [Answer.ALLOW, Answer.IGNORE, Answer.CLOSE_SESSION, Answer.BLOCK_IP, Answer.UNBLOCK_IP],
    executed,
    async execute(action) {
      executed.push(action);
      return { status: ResultStatus.DONE, detail: `${Answer[action.answer]} done` };
    },
  };
}

describe("secarc test-alert: a test alert through agent → controller → Telegram, hop by hop", function () {
  this.timeout(60_000);
  let controller: RunningController | undefined;
  let agents: RunningAgent[] = [];

  const world = useTelegramWorld("secarc-test-alert-", async () => {
    for (const agent of agents.splice(0)) await agent.close();
    await controller?.close();
    controller = undefined;
  });

  const telegram = () => ({ token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }, { id: CHAT_ES, locale: "es" as const }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } });

  async function startTestController(overrides: Partial<ControllerConfigInput> = {}, logger = silentLogger()): Promise<RunningController> {
    const port = await freeLoopbackPort();
    controller = await startController({ config: testControllerConfig(world.pki, world.dir, { listen: { host: "127.0.0.1", port }, ...overrides }), logger });
    return controller;
  }

  /** Writes the agent config file the command reads, as an operator would have it. */
  function agentConfigFile(name: string, certs: CertPaths, port: number, extra: Partial<AgentConfigInput> = {}): string {
    const path = join(world.dir, `${name}.json`);
    writeFileSync(path, JSON.stringify({ ...testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, `${name}-state`), port }), ...extra }));
    return path;
  }

  async function startLiveAgent(name: string, certs: CertPaths, port: number): Promise<{ agent: RunningAgent; responder: ReturnType<typeof createRecordingResponder> }> {
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, `${name}-state`), port }), "test");
    const responder = createRecordingResponder();
    const agent = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map(responder.answers.map((a) => [a, responder]))) });
    agents.push(agent);
    await agent.waitConnected(10_000);
    return { agent, responder };
  }

  function button(message: FakeMessage, label: string): string {
    const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
    if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
    return found.callback_data;
  }

  it("reports every hop ok and exits 0; the running agent keeps its session and its actions; the test message has no buttons and is not an alert", async () => {
    const running = await startTestController({ telegram: telegram() });
    const certs = await world.pki.issueAgent("web-1");
    const { agent, responder } = await startLiveAgent("web-1", certs, running.port);

    const run = await secarc(["test-alert", "--config", agentConfigFile("web-1", certs, running.port)]);
    expect(run.stderr).to.equal("");
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines).to.have.length(5);
    expect(lines[0]).to.match(/^✔ agent config and certificate \(web-1, expires in \d+ days\)$/);
    expect(lines[1]).to.match(new RegExp(`^✔ controller 127\\.0\\.0\\.1:${running.port} reached over mTLS \\(\\d+ ms\\)$`));
    expect(lines[2]).to.match(/^✔ alert stored and acknowledged by the controller \(\d+ ms\)$/);
    expect(lines.slice(3).sort()).to.satisfy((hops: string[]) => /^✔ Telegram: message \d+ sent to chat -100123 \(\d+ ms\)$/.test(hops[0]!) && /^✔ Telegram: message \d+ sent to chat 1001 \(\d+ ms\)$/.test(hops[1]!));
    expect(run.code).to.equal(0);

    // In Telegram: a test message per chat, in the chat's language, without buttons.
    const [en] = world.api.messagesIn(CHAT);
    expect(en?.text).to.equal("🧪 Test alert from <b>web-1</b> via secarc test-alert — delivery works.");
    expect(en?.replyMarkup).to.equal(undefined);
    const [es] = world.api.messagesIn(CHAT_ES);
    expect(es?.text).to.equal("🧪 Alerta de prueba de <b>web-1</b> con secarc test-alert — la entrega funciona.");
    expect(es?.replyMarkup).to.equal(undefined);

    // Recorded, but not an alert: /alerts has nothing, the audit log has the test alert.
    expect((await running.store.listOpenAlerts(10))).to.deep.equal([]);
    expect((await running.store.listAudit(10)).filter((a) => a.event === "link.test_alert").map((a) => a.actor)).to.deep.equal(["agent:web-1"]);
    world.api.sendCommand(CHAT, OPERATOR, "/alerts");
    await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text === "No open alerts."), 10_000);

    // The live session was never replaced: one connect, still online, still answering.
    expect(running.onlineAgents()).to.deep.equal(["web-1"]);
    expect(agent.isConnected()).to.equal(true);
    expect((await running.store.getAgent("web-1"))?.connects).to.equal(1);
    agent.emit(sampleAlert(AlertKind.SSH_SESSION));
    const message = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes("New SSH login: alice")), 10_000);
    world.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    await eventually("the live agent carries out Block IP", () => responder.executed.length === 1);
    expect(responder.executed.map((a) => Answer[a.answer])).to.deep.equal(["BLOCK_IP"]);
    expect((await running.store.getAgent("web-1"))?.connects).to.equal(1);
  });

  it("a probe session gets no actions, does not mark the agent online, and may not send results", async () => {
    const running = await startTestController({ telegram: telegram() });
    const certs = await world.pki.issueAgent("web-2");
    const probe = connectRawAgent({ port: running.port, ca: world.pki.ca, cert: certs.cert, key: certs.key });
    try {
      probe.hello({ agentId: "web-2", probe: true });
      const welcome = await probe.waitFor((m) => m.payload.case === "welcome", 10_000);
      expect(welcome.payload.case === "welcome" && welcome.payload.value.probe).to.equal(true);
      // Not an agent connect: no presence, no record.
      expect(running.onlineAgents()).to.deep.equal([]);
      expect((await running.store.getAgent("web-2"))).to.equal(undefined);

      // The real agent connects beside it and gets the action; the probe stays open and gets none.
      const { agent, responder } = await startLiveAgent("web-2", certs, running.port);
      agent.emit(sampleAlert(AlertKind.SSH_SESSION));
      const message = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes("New SSH login: alice")), 10_000);
      world.api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
      await eventually("the live agent carries out Block IP", () => responder.executed.length === 1);
      expect(probe.received.map((m) => m.payload.case)).to.deep.equal(["welcome"]);
      expect(running.onlineAgents()).to.deep.equal(["web-2"]);

      probe.send({ payload: { case: "actionResult", value: { actionId: "a-1", status: ResultStatus.DONE } } });
      const ended = await probe.ended;
      expect(ended.details).to.include("an action result on a probe session");
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(running.onlineAgents()).to.deep.equal(["web-2"]);
      expect(agent.isConnected()).to.equal(true);
    } finally {
      probe.close();
    }
  });

  it("the Bot API answering 401 for sendMessage: the Telegram hop fails with the reason and the command exits 1", async () => {
    const running = await startTestController({ telegram: { ...telegram(), chats: [{ id: CHAT }] } });
    const certs = await world.pki.issueAgent("web-3");
    world.api.failNext(1, { methods: ["sendMessage"], errorCode: 401, description: "Unauthorized" });
    const run = await secarc(["test-alert", "--config", agentConfigFile("web-3", certs, running.port)]);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 3).every((line) => line.startsWith("✔ "))).to.equal(true);
    expect(lines[3]).to.match(/^✘ Telegram: sending to chat 1001 failed: Telegram answered 401: Unauthorized \(\d+ ms\)$/);
    expect(lines[4]).to.include("the bot token is wrong or revoked");
    expect(run.code).to.equal(1);
    expect(world.api.messagesIn(CHAT)).to.deep.equal([]);
  });

  it("the Bot API answering 500: the Telegram hop fails at once (no retry of the test message) and the command exits 1", async () => {
    const running = await startTestController({ telegram: { ...telegram(), chats: [{ id: CHAT }] } });
    const certs = await world.pki.issueAgent("web-4");
    world.api.failNext(1, { methods: ["sendMessage"], errorCode: 500, description: "Internal Server Error" });
    const run = await secarc(["test-alert", "--config", agentConfigFile("web-4", certs, running.port)]);
    expect(run.stdout).to.match(/^✘ Telegram: sending to chat 1001 failed: Telegram answered 500: Internal Server Error \(\d+ ms\)$/m);
    expect(run.code).to.equal(1);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(world.api.calls.filter((c) => c.method === "sendMessage").map((c) => c.status)).to.deep.equal([500]);
  });

  it("the Bot API unreachable: the Telegram hop says so", async () => {
    const running = await startTestController({ telegram: { ...telegram(), chats: [{ id: CHAT }] } });
    const certs = await world.pki.issueAgent("web-5");
    await world.api.stop();
    const run = await secarc(["test-alert", "--config", agentConfigFile("web-5", certs, running.port), "--timeout", "30s"]);
    expect(run.stdout).to.match(/^✘ Telegram: sending to chat 1001 failed: Telegram unreachable: .*ECONNREFUSED/m);
    expect(run.stdout).to.not.include(world.api.token);
    expect(run.code).to.equal(1);
  });

  it("a controller without Telegram: the Telegram hop says not configured and the command exits 1", async () => {
    const running = await startTestController();
    const certs = await world.pki.issueAgent("web-6");
    const run = await secarc(["test-alert", "--config", agentConfigFile("web-6", certs, running.port)]);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 3).every((line) => line.startsWith("✔ "))).to.equal(true);
    expect(lines[3]).to.equal("✘ Telegram: not configured");
    expect(run.code).to.equal(1);
  });

  it("a controller that is down: the controller hop fails with connection refused and the command exits 1", async () => {
    const certs = await world.pki.issueAgent("web-7");
    const port = await freeLoopbackPort();
    const run = await secarc(["test-alert", "--config", agentConfigFile("web-7", certs, port)]);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(/^✔ agent config and certificate \(web-7, /);
    expect(lines[1]).to.equal(`✘ controller 127.0.0.1:${port}: controller unreachable: connection refused at 127.0.0.1:${port} (is the controller running, and is controller.address right?)`);
    expect(lines).to.have.length(2);
    expect(run.code).to.equal(1);
  });

  it("two controller endpoints: each is probed in turn, and one that is down fails the command", async () => {
    const running = await startTestController();
    const certs = await world.pki.issueAgent("web-7b");
    const down = await freeLoopbackPort();
    const endpoints = [`127.0.0.1:${running.port}`, `127.0.0.1:${down}`];
    const run = await secarc(["test-alert", "--config", agentConfigFile("web-7b", certs, running.port, { controller: { address: endpoints, serverName: "localhost" } })]);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(/^✔ agent config and certificate \(web-7b, /);
    expect(lines[1]).to.match(new RegExp(`^✔ controller 127\\.0\\.0\\.1:${running.port} reached over mTLS`));
    expect(lines[2]).to.match(/^✔ alert stored and acknowledged by the controller/);
    expect(lines[3]).to.equal("✘ Telegram: not configured");
    expect(lines[4]).to.equal(`✘ controller 127.0.0.1:${down}: controller unreachable: connection refused at 127.0.0.1:${down} (is the controller running, and is controller.address right?)`);
    expect(lines).to.have.length(5);
    expect(run.code).to.equal(1);
  });

  it("a revoked agent certificate: the controller hop explains the TLS refusal", async () => {
    const certs = await world.pki.issueAgent("web-8");
    const crl = await world.pki.revoke(certs.cert);
    const log = captureLog();
    const running = await startTestController({ tls: { ca: world.pki.ca, cert: world.pki.controller.cert, key: world.pki.controller.key, crl } }, log.logger);
    const run = await secarc(["test-alert", "--config", agentConfigFile("web-8", certs, running.port)]);
    expect(run.stdout).to.include(`✘ controller 127.0.0.1:${running.port}: TLS: the controller refused this agent's certificate right after the handshake (revoked`);
    expect(run.code).to.equal(1);
    expect(log.matching("client certificate is revoked")).to.not.have.length(0);
  });

  it("a controller certificate for another name: the controller hop says to set controller.serverName", async () => {
    const running = await startTestController();
    const certs = await world.pki.issueAgent("web-9");
    const path = agentConfigFile("web-9", certs, running.port, { controller: { address: `127.0.0.1:${running.port}`, serverName: "controller.example.org" } });
    const run = await secarc(["test-alert", "--config", path]);
    expect(run.stdout).to.match(/✘ controller 127\.0\.0\.1:\d+: TLS: the controller's certificate is not valid for "controller\.example\.org" .*set controller\.serverName/);
    expect(run.code).to.equal(1);
  });

  it("a certificate from another CA: the first hop fails before anything goes on the wire", async () => {
    const running = await startTestController();
    const path = agentConfigFile("foreign", world.pki.foreign.agent, running.port);
    const run = await secarc(["test-alert", "--config", path]);
    expect(run.stdout.trimEnd()).to.match(/^✘ agent config and certificate: certificate \S+ is not signed by the CA \S+ .*: point tls.ca at the CA that issued it, or issue a new certificate with this CA$/);
    expect(run.stdout).to.include(`certificate ${world.pki.foreign.agent.cert} is not signed by the CA ${world.pki.ca} `);
    expect(run.code).to.equal(1);
  });

  it("Telegram failing longer than telegram.failureAlertAfter: an error log line, secarc_telegram_failing 1, then recovery in the log and /status", async () => {
    const log = captureLog();
    const running = await startTestController(
      { telegram: { ...telegram(), chats: [{ id: CHAT }], failureAlertAfter: "1s" }, metrics: { listen: { host: "127.0.0.1", port: 0 } } },
      log.logger,
    );
    const certs = await world.pki.issueAgent("web-10");
    const { agent } = await startLiveAgent("web-10", certs, running.port);
    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
      return Number(text.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ")[1]);
    };
    expect(await metric("secarc_telegram_failing")).to.equal(0);
    // The alert's message fails three times (retried after 1 s, 2 s, 4 s), then goes out.
    world.api.failNext(3, { methods: ["sendMessage"], errorCode: 502, description: "Bad Gateway" });
    agent.emit(sampleAlert(AlertKind.SSH_SESSION));
    await eventually("the failure is logged", () => log.matching("telegram: sends failing").length > 0, 10_000);
    expect(log.matching("telegram: sends failing")[0]).to.deep.include({ level: 50, lastError: "Telegram answered 502: Bad Gateway" });
    expect(await metric("secarc_telegram_failing")).to.equal(1);
    await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.includes("New SSH login: alice")), 15_000);
    await eventually("the recovery is logged", () => log.matching("telegram: sends work again").length > 0, 10_000);
    expect(log.matching("telegram: sends failing")).to.have.length(1);
    expect(await metric("secarc_telegram_failing")).to.equal(0);
    world.api.sendCommand(CHAT, OPERATOR, "/status");
    const status = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.startsWith("Servers (1):")), 10_000);
    expect(status.text).to.match(/\nTelegram sends failed from \d{4}-\d\d-\d\d \d\d:\d\d UTC to \d{4}-\d\d-\d\d \d\d:\d\d UTC \(last error: Telegram answered 502: Bad Gateway\)$/);
  });

  it("usage errors exit 2; --help prints the usage", async () => {
    const missing = await secarc(["test-alert"]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include("--config FILE is required");
    const badTimeout = await secarc(["test-alert", "--config", "x.yaml", "--timeout", "soon"]);
    expect(badTimeout.code).to.equal(2);
    expect(badTimeout.stderr).to.include("--timeout");
    const help = await secarc(["test-alert", "--help"]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include("Usage: secarc test-alert --config FILE [--timeout DURATION]");
    const list = await secarc(["--help"]);
    expect(list.stdout).to.match(/^ {2}test-alert\s+send a test alert/m);
  });
});
