// Issue 8, acceptance 3: Allow that sticks, with the real parts. nginx serves
// in a "server" namespace and an attacker scans it from its own namespace; an
// in-process agent follows nginx's access log (nginx-404 detector) and carries
// out answers with real nftables inside the server namespace; it reaches an
// in-process controller (SQLite, mutual TLS on loopback) whose Telegram bridge
// talks to the fake Bot API, where the test reads the chat and taps buttons.
// The agent's clock is injected: the test moves it past the allow's hour.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { MUTES_FILE } from "../agent/responders/mute-store.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import type { ActionRecord } from "../controller/store/store.js";
import { createFakeBotApi, type FakeBotApi, type FakeMessage } from "../testing/fake-bot-api.js";
import { ActionOptionsSchema, ActionTargetSchema, Answer, OperatorSchema } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { hostUrl, httpStatus, type LabHost } from "./support/netns.js";
import { startNginx, type NginxServer } from "./support/nginx.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { createResponderLab, recordExecutions, type RecordedExecution, type ResponderLab } from "./support/responder-lab.js";
import { givenResponders } from "./support/given-responders.js";

const CHAT = 5151;
const OPERATOR = { id: 77, username: "op" };
const MINUTE = 60_000;

function labels(message: FakeMessage): string[] {
  return message.replyMarkup?.inline_keyboard.flat().map((b) => b.text) ?? [];
}

function button(message: FakeMessage, label: string): string {
  const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
  if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
  return found.callback_data;
}

describe("allow that sticks: HTTP 404 alert of a blocked address → Allow 1 h → unblocked, muted for the hour, alerts after it", function () {
  this.timeout(120_000);
  let pki: TestPki | undefined;
  let rl: ResponderLab | undefined;
  let nginx: NginxServer | undefined;
  let api: FakeBotApi | undefined;
  let dir: string | undefined;
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;
  let agentId: string;
  let attacker: LabHost;
  let other: LabHost;
  /** The agent's clock runs this far ahead of the real one. */
  let offset = 0;
  let scans = 0;
  /** Every action the agent's responders were handed. */
  const executions: RecordedExecution[] = [];

  const server = () => rl!.lab.server;
  const http = (from: LabHost) => httpStatus(from.ns, hostUrl(server().ipv4, nginx!.port), 1500);

  /** Eight missing pages in one curl from the attacker (warning threshold: 5); every answer must be a 404. */
  async function scan(): Promise<void> {
    scans += 1;
    const args = ["-s", "--max-time", "20", "-w", "%{http_code}\\n"];
    for (let i = 0; i < 8; i++) args.push("-o", "/dev/null", hostUrl(server().ipv4, nginx!.port, `/scan${scans}/${i}.php`));
    const result = await rl!.lab.exec(attacker, "curl", args, { timeoutMs: 30_000 });
    expect(result.stdout.trim().split("\n")).to.deep.equal(Array(8).fill("404"));
  }

  async function tap(message: FakeMessage, label: string): Promise<string | undefined> {
    const id = api!.tapButton(CHAT, message.messageId, button(message, label), OPERATOR);
    return (await api!.waitFor(() => api!.answeredCallbacks.find((a) => a.callbackQueryId === id), 10_000)).text;
  }

  /** Sends a command and returns the bot's next message in the chat. */
  async function command(text: string): Promise<FakeMessage> {
    const before = api!.messagesIn(CHAT).length;
    api!.sendCommand(CHAT, OPERATOR, text);
    return api!.waitFor(() => api!.messagesIn(CHAT)[before], 10_000);
  }

  /** HTTP 404 alerts the controller holds open (a muted alert never reaches it). */
  const openBursts = () => controller!.store.listOpenAlertsOfKind(AlertKind.HTTP_404_BURST);

  function alertMessages(): FakeMessage[] {
    return api!.messagesIn(CHAT).filter((m) => m.text.includes(`from ${attacker.ipv4}`) && m.text.includes("HTTP 404"));
  }

  /** A BLOCK_IP not tied to an alert, as /blocks or another alert would send it; resolves once the agent has answered. */
  async function blockFromElsewhere(): Promise<ActionRecord> {
    const outcome = (await controller!.actions.request({
      agentId,
      alertId: undefined,
      answer: Answer.BLOCK_IP,
      operator: create(OperatorSchema, { telegramUserId: BigInt(OPERATOR.id), username: "colleague" }),
      options: create(ActionOptionsSchema, { duration: durationFromMs(24 * 60 * MINUTE) }),
      target: create(ActionTargetSchema, { target: { case: "ip", value: attacker.ipv4 } }),
    }));
    if (!outcome.ok) throw new Error(`block not accepted: ${outcome.reason}`);
    const id = outcome.action.actionId;
    await eventually("the agent answered the block", async () => ["done", "failed", "refused"].includes((await controller!.store.getAction(id))!.state), 15_000);
    return (await controller!.store.getAction(id))!;
  }

  before(async () => {
    pki = await createTestPki();
    rl = await createResponderLab(2);
    [attacker, other] = rl.lab.clients as [LabHost, LabHost];
    nginx = await startNginx(rl.lab.server.ns);
    api = createFakeBotApi();
    await api.start();
    dir = mkdtempSync(join(tmpdir(), "secarc-allow-"));

    const port = await freeLoopbackPort();
    const controllerConfig = testControllerConfig(pki, dir, {
      listen: { host: "127.0.0.1", port },
      log: { level: "warn" },
      telegram: { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } },
    });
    controller = await startController({ config: controllerConfig, logger: silentLogger() });

    agentId = `allow-web-${randomBytes(3).toString("hex")}`;
    const certs = await pki.issueAgent(agentId);
    const config = parseConfig(
      agentConfigSchema,
      {
        // The responder lab's state directory: the agent's alert mute reads the allows its responders write.
        ...testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: rl.stateDir, port }),
        detectors: {
          sshSession: { enabled: false },
          sshBruteForce: { enabled: false },
          cpuSustained: { enabled: false },
          nginx404: { accessLog: nginx.accessLog, warning: 5, critical: 40 },
        },
      },
      "allow agent",
    );
    const clock = () => Date.now() + offset;
    // The real responders, acting inside the server namespace, on the injected clock.
    const responders = recordExecutions(rl.responders({}, clock).responders, executions);
    agent = await startAgent({ config, logger: silentLogger(), responders: givenResponders(responders), now: clock });
    await agent.waitConnected(10_000);
    await eventually("the controller sees the agent online", () => controller!.onlineAgents().includes(agentId));
  });

  after(async () => {
    await agent?.close().catch(() => {});
    await controller?.close().catch(() => {});
    await api?.stop().catch(() => {});
    await nginx?.stop().catch(() => {});
    await rl?.cleanup().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
  });

  it("Allow 1 h on the alert of a blocked address unblocks it; Block IP meanwhile is refused; a new burst in the hour raises nothing; after the hour it alerts again", async () => {
    // A scan raises an alert that offers Allow.
    expect(await http(attacker)).to.equal(200);
    await scan();
    const message = await api!.waitFor(() => alertMessages()[0], 15_000);
    expect(labels(message)).to.deep.equal(["Ignore", "Block IP", "Block on all servers", "Allow"]);
    const alertId = (await controller!.store.listOpenAlerts(10)).find((r) => r.alert.kind === AlertKind.HTTP_404_BURST)!.alertId;

    // Meanwhile the address is blocked (from another alert, by a colleague): really cut off.
    const block = await blockFromElsewhere();
    expect([block.state, block.detail]).to.deep.equal(["done", `${attacker.ipv4} blocked for 24h`]);
    expect(await http(attacker)).to.equal(0);
    expect(await http(other)).to.equal(200);

    // Allow asks for how long, like Reboot asks for confirmation; Cancel brings the answers back.
    expect(await tap(message, "Allow")).to.equal("Allow for how long? Alerts about the address are muted meanwhile.");
    await api!.waitFor(() => labels(message).includes("Allow 1 h") || undefined, 10_000);
    expect(message.replyMarkup!.inline_keyboard.map((row) => row.map((b) => b.text))).to.deep.equal([["Allow 1 h", "Allow 24 h", "Allow always"], ["Cancel"]]);
    expect(message.replyMarkup!.inline_keyboard.flat().every((b) => Buffer.byteLength(b.callback_data!) <= 64)).to.equal(true);
    expect(await tap(message, "Cancel")).to.equal("Cancelled.");
    await api!.waitFor(() => labels(message).includes("Block IP") || undefined, 10_000);
    expect((await controller!.store.listActionsForAlert(alertId))).to.deep.equal([]);

    await tap(message, "Allow");
    await api!.waitFor(() => labels(message).includes("Allow 1 h") || undefined, 10_000);
    expect(await tap(message, "Allow 1 h")).to.equal(`Allow: sent to ${agentId}.`);
    await api!.waitFor(() => message.text.includes("done:") || undefined, 15_000);
    expect(message.text).to.include("<i>👤 Allow chosen by @op</i>");
    expect(message.text).to.include(`<i>✅ done: allowed ${attacker.ipv4} for 1h (alerts muted); unblocked it</i>`);
    expect(message.replyMarkup).to.equal(undefined);
    const [allowAction] = (await controller!.store.listActionsForAlert(alertId));
    expect(allowAction!.answer).to.equal(Answer.ALLOW);
    expect(Number(allowAction!.options?.duration?.seconds)).to.equal(3_600);
    expect(allowAction!.expiresAt!.getTime() - allowAction!.finishedAt!.getTime()).to.be.within(60 * MINUTE - 5_000, 60 * MINUTE);

    // The attacker reaches nginx again; /blocks no longer lists it; the allow is kept in the agent's state.
    expect(await http(attacker)).to.equal(200);
    expect((await command("/blocks")).text).to.equal("No active blocks.");
    const stored = JSON.parse(readFileSync(join(rl!.stateDir, MUTES_FILE), "utf8")) as { mutes: Array<{ key: string; decision: string; by: string; until: number }> };
    expect(stored.mutes.map((m) => [m.key, m.decision, m.by])).to.deep.equal([[attacker.ipv4, "allow", "@op"]]);

    // While allowed, Block IP on the address is refused with the reason; traffic still flows.
    const refused = await blockFromElsewhere();
    expect(refused.state).to.equal("refused");
    expect(refused.detail).to.match(new RegExp(`^refused: ${attacker.ipv4.replace(/\./g, "\\.")} is allowed until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC by @op; revoke the allow first \\(/allows\\)$`));
    expect(await http(attacker)).to.equal(200);

    // /allows shows it, with the time left and a Revoke button.
    const list = await command("/allows");
    expect(list.text).to.match(new RegExp(`^Active allows \\(1\\), alerts about them muted:\\n<b>${agentId}</b>\\n✅ <code>${attacker.ipv4.replace(/\./g, "\\.")}</code> — (59|60) min left \\(until .* UTC\\), by @op$`));
    expect(labels(list)).to.deep.equal([`Revoke ${attacker.ipv4} (${agentId})`]);

    // Half an hour later by the agent's clock: the first burst has ended (its message says so), a new one raises nothing.
    offset = 30 * MINUTE;
    await api!.waitFor(() => message.text.includes("resolved: the condition ended") || undefined, 15_000);
    const shown = alertMessages().length;
    expect(await openBursts()).to.deep.equal([]);
    await scan();
    await eventually("the agent detected the new burst and muted it", () => (agent!.mutedAlerts().HTTP_404_BURST ?? 0) >= 1, 15_000);
    // Give a wrongly sent alert every chance to show up.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(alertMessages()).to.have.length(shown);
    expect(await openBursts()).to.deep.equal([]);
    expect(agent!.outboxDepth()).to.equal(0);

    // After the hour (the muted burst has ended, quietly: a tick of the agent's clock later) a new burst alerts again, with Allow offered.
    offset = 61 * MINUTE;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(alertMessages()).to.have.length(shown);
    await scan();
    const again = await api!.waitFor(() => alertMessages()[shown], 15_000);
    expect(again.text).to.include(`HTTP 404s in 60 s from ${attacker.ipv4}`);
    expect(labels(again)).to.deep.equal(["Ignore", "Block IP", "Block on all servers", "Allow"]);
  });

  it("Allow always lasts until revoked from /allows; then the address alerts again and Block IP blocks it", async () => {
    // The open burst ends when the agent's clock moves on.
    offset += 5 * MINUTE;
    await eventually("no burst is open", async () => (await openBursts()).length === 0, 15_000);
    const shown = alertMessages().length;
    await scan();
    const message = await api!.waitFor(() => alertMessages()[shown], 15_000);
    await tap(message, "Allow");
    await api!.waitFor(() => labels(message).includes("Allow always") || undefined, 10_000);
    expect(await tap(message, "Allow always")).to.equal(`Allow: sent to ${agentId}.`);
    await api!.waitFor(() => message.text.includes("done:") || undefined, 15_000);
    expect(message.text).to.include(`<i>✅ done: allowed ${attacker.ipv4} until revoked (alerts muted)</i>`);

    // A year later by the agent's clock it still holds: a new burst is muted.
    offset += 365 * 24 * 60 * MINUTE;
    await eventually("the allowed burst has ended", async () => (await openBursts()).length === 0, 15_000);
    const muted = agent!.mutedAlerts().HTTP_404_BURST ?? 0;
    await scan();
    await eventually("the new burst is muted", () => (agent!.mutedAlerts().HTTP_404_BURST ?? 0) > muted, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(alertMessages()).to.have.length(shown + 1);

    // /allows shows it until revoked; Revoke sends REVOKE_ALLOW, which the agent carries out.
    const list = await command("/allows");
    expect(list.text).to.include(`✅ <code>${attacker.ipv4}</code> — until revoked, by @op`);
    expect(await tap(list, `Revoke ${attacker.ipv4} (${agentId})`)).to.equal(`Revoke allow: sent to ${agentId}.`);
    await eventually("the agent carries out REVOKE_ALLOW", () => executions.some((e) => e.answer === Answer.REVOKE_ALLOW), 15_000);
    const execution = executions.find((e) => e.answer === Answer.REVOKE_ALLOW)!;
    await eventually("the revoke is done", async () => (await controller!.store.getAction(execution.actionId))?.state === "done", 15_000);
    expect((await controller!.store.getAction(execution.actionId))!.detail).to.equal(`allow of ${attacker.ipv4} revoked (was until revoked); its alerts are no longer muted`);
    // The /allows message itself shows the agent's result, in place of its Revoke button.
    await eventually("the /allows message shows the revoke's result", () => list.text.includes(`Revoke allow <code>${attacker.ipv4}</code> on <b>${agentId}</b>: ✅ done: allow of ${attacker.ipv4} revoked`), 15_000);
    expect(labels(list)).to.deep.equal([]);
    expect((await command("/allows")).text).to.equal("No active allows.");
    const stored = JSON.parse(readFileSync(join(rl!.stateDir, MUTES_FILE), "utf8")) as { mutes: Array<{ key: string }> };
    expect(stored.mutes.map((m) => m.key)).to.not.include(attacker.ipv4);

    // Alerts resume: a new burst raises an alert, and Block IP blocks.
    offset += 5 * MINUTE;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(alertMessages()).to.have.length(shown + 1);
    await scan();
    const fresh = await api!.waitFor(() => alertMessages()[shown + 1], 15_000);
    expect(await tap(fresh, "Block IP")).to.equal(`Block IP: sent to ${agentId}.`);
    await api!.waitFor(() => fresh.text.includes("done:") || undefined, 15_000);
    expect(fresh.text).to.include(`<i>✅ done: ${attacker.ipv4} blocked for 24h</i>`);
    expect(await http(attacker)).to.equal(0);
    expect(await http(other)).to.equal(200);
  });
});
