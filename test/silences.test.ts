import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import type { ControllerConfigInput } from "../controller/config.js";
import { startController, type RunningController } from "../controller/controller.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import type { FakeMessage } from "../testing/fake-bot-api.js";
import { AlertKind, Severity } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { useTelegramWorld } from "./support/telegram-world.js";
import { givenResponders } from "./support/given-responders.js";
import { createRecordingResponder, respondersFor } from "./fixtures/agent/recording-responder.js";

const CHAT = 1001;
const OPERATOR = { id: 77, username: "op" };
const HOUR = 3_600_000;
const BURST_TEXT = "185 HTTP 404s in 60 s from 198.51.100.23";

/**
 * Issue 16, acceptance 5: silences and maintenance windows with the real
 * parts — the controller (SQLite, mTLS on loopback), two agents, the fake Bot
 * API — and a driven clock (real time plus an offset the test moves).
 */
describe("silences and maintenance windows: held alerts, one digest at the end", function () {
  this.timeout(90_000);
  let port: number;
  let offset = 0;
  const now = () => Date.now() + offset;
  let controller: RunningController | undefined;
  const agents: RunningAgent[] = [];

  const world = useTelegramWorld("secarc-silences-", async () => {
    for (const agent of agents.splice(0)) await agent.close();
    await controller?.close();
    controller = undefined;
  });
  beforeEach(async () => {
    port = await freeLoopbackPort();
    offset = 0;
  });

  function config(extra: Partial<ControllerConfigInput> = {}) {
    return testControllerConfig(world.pki, world.dir, {
      listen: { host: "127.0.0.1", port },
      telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "20ms" } },
      ...extra,
    });
  }

  async function startAgentNamed(id: string, labels: Record<string, string> = {}, responders?: ReturnType<typeof respondersFor>): Promise<RunningAgent> {
    const certs = await world.pki.issueAgent(id);
    const written = { ...testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, `state-${id}`), port }), labels };
    const agentConfig = parseConfig(agentConfigSchema, written, "test");
    const agent = await startAgent({ config: agentConfig, logger: silentLogger(), detectors: () => [], ...(responders ? { responders: givenResponders(responders) } : {}) });
    agents.push(agent);
    await agent.waitConnected(10_000);
    return agent;
  }

  /** Sends a command and waits for the reply containing `text`. */
  async function command(line: string, text: string): Promise<FakeMessage> {
    const before = world.api.messagesIn(CHAT).length;
    world.api.sendCommand(CHAT, OPERATOR, line);
    return world.api.waitFor(() => world.api.messagesIn(CHAT).slice(before).find((m) => m.text.includes(text)), 10_000);
  }

  /** A pause for what the send queue would send (its pace here is 20 ms per message). */
  async function settled(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  function botMessages(): FakeMessage[] {
    return world.api.messagesIn(CHAT).filter((m) => !m.text.startsWith("/"));
  }

  it("/silence web-1 1h holds web-1's burst (stored, listed, not posted, across a restart); one digest when it ends; web-2 is posted", async () => {
    controller = await startController({ config: config(), logger: silentLogger(), now });
    const silenced = await command("/silence web-1 1h", "Silenced");
    expect(silenced.text).to.include("Silenced <code>web-1</code> until");

    // Stored: a restart keeps it in force.
    await controller.close();
    controller = await startController({ config: config(), logger: silentLogger(), now });
    const web1 = await startAgentNamed("web-1");
    const web2 = await startAgentNamed("web-2");
    const listed = await command("/silences", "Silences in force (1)");
    expect(listed.replyMarkup?.inline_keyboard.flat().map((b) => b.text)).to.deep.equal(["Unsilence web-1"]);

    const held = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    const posted = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING });
    web1.emit(held);
    web2.emit(posted);
    await eventually("both alerts stored", async () => (await controller!.store.getAlert(held.id)) !== undefined && (await controller!.store.getAlert(posted.id)) !== undefined, 10_000);
    const web2Message = await world.api.waitFor(() => botMessages().find((m) => m.text.includes(BURST_TEXT)), 10_000);
    expect(web2Message.text).to.include("web-2");
    await settled();
    expect(botMessages().filter((m) => m.text.includes(BURST_TEXT))).to.have.length(1);
    const alerts = await command("/alerts", "Open alerts (2)");
    expect(alerts.text).to.include("web-1").and.to.include("web-2");

    // Past the hour: one digest, with a Show button for the held alert.
    const before = botMessages().length;
    offset += HOUR + 1_000;
    await controller.silences.check();
    const digest = await world.api.waitFor(() => botMessages().find((m) => m.text.includes("Silence of <code>web-1</code>")), 10_000);
    expect(digest.text).to.include("(telegram:77 (@op)) ended").and.to.include("1 alerts raised during it are still open").and.to.include("1 new alerts from <b>web-1</b>: 1 × HTTP 404 burst");
    expect(digest.replyMarkup?.inline_keyboard.flat()).to.have.length(1);
    await settled();
    expect(botMessages().length).to.equal(before + 1);
    // Checked again (and after a restart): the digest is not repeated, the alert not posted on its own.
    await controller.silences.check();
    await controller.close();
    controller = await startController({ config: config(), logger: silentLogger(), now });
    await settled();
    expect(botMessages().length).to.equal(before + 1);
    expect(await command("/silences", "No silence in force")).to.not.equal(undefined);

    // Show opens the held alert's own message, with its buttons.
    world.api.tapButton(CHAT, digest.messageId, digest.replyMarkup!.inline_keyboard[0]![0]!.callback_data!, OPERATOR);
    const own = await world.api.waitFor(() => botMessages().find((m) => m.messageId > digest.messageId && m.text.includes(BURST_TEXT) && m.text.includes("web-1") && !m.text.includes("Open alerts")), 10_000);
    expect(own.replyMarkup?.inline_keyboard.flat().map((b) => b.text)).to.include("Block IP");
  });

  it("Unsilence ends a silence at once: its held alerts come as one digest; later alerts are posted", async () => {
    controller = await startController({ config: config(), logger: silentLogger(), now });
    const web1 = await startAgentNamed("web-1");
    await command("/silence label:team=db 30m ssh_session", "Silenced");
    await command("/silence web-1 2h ssh_session", "Silenced");
    const first = sampleAlert(AlertKind.SSH_SESSION);
    const second = sampleAlert(AlertKind.SSH_SESSION);
    web1.emit(first);
    web1.emit(second);
    await eventually("both stored", async () => (await controller!.store.getAlert(first.id)) !== undefined && (await controller!.store.getAlert(second.id)) !== undefined, 10_000);
    await settled();
    expect(botMessages().filter((m) => m.text.includes("SSH login"))).to.deep.equal([]);

    const list = await command("/silences", "Silences in force (2)");
    const unsilence = list.replyMarkup!.inline_keyboard.flat().find((b) => b.text === "Unsilence web-1 ssh_session")!;
    const queryId = world.api.tapButton(CHAT, list.messageId, unsilence.callback_data!, OPERATOR);
    const answered = await world.api.waitFor(() => world.api.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 10_000);
    expect(answered.text).to.equal("Silence ended.");
    const digest = await world.api.waitFor(() => botMessages().find((m) => m.text.includes("Silence of <code>web-1 ssh_session</code>")), 10_000);
    expect(digest.text).to.include("2 alerts raised during it are still open");
    // A second tap on the same button: no longer in force, nothing more sent.
    const again = world.api.tapButton(CHAT, list.messageId, unsilence.callback_data!, OPERATOR);
    expect((await world.api.waitFor(() => world.api.answeredCallbacks.find((a) => a.callbackQueryId === again), 10_000)).text).to.equal("This silence is no longer in force.");

    const later = sampleAlert(AlertKind.SSH_SESSION);
    web1.emit(later);
    await world.api.waitFor(() => botMessages().find((m) => m.text.includes("SSH login") && !m.text.includes("Silence")), 10_000);
    await settled();
    expect(botMessages().filter((m) => m.text.includes("Silence of"))).to.have.length(1);
    // Forged Unsilence data is refused.
    const forged = world.api.tapButton(CHAT, list.messageId, "1|s|nope!", OPERATOR);
    expect((await world.api.waitFor(() => world.api.answeredCallbacks.find((a) => a.callbackQueryId === forged), 10_000)).showAlert).to.equal(true);
    expect((await command("/silence web-1 soon", "is not a duration")).text).to.include("Usage: /silence");
  });

  it("labels from the agent's config reach /status and the silences: label:team=db holds db-1's SSH logins only", async () => {
    controller = await startController({ config: config(), logger: silentLogger(), now });
    const db1 = await startAgentNamed("db-1", { team: "db", env: "prod" });
    const web1 = await startAgentNamed("web-1", { team: "web" });
    const status = await command("/status", "Servers (2)");
    expect(status.text).to.include("labels: <code>env=prod, team=db</code>").and.to.include("labels: <code>team=web</code>");
    await command("/silence label:team=db 30m ssh_session", "Silenced");

    const dbLogin = sampleAlert(AlertKind.SSH_SESSION);
    const dbBurst = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING });
    const webLogin = sampleAlert(AlertKind.SSH_SESSION);
    db1.emit(dbLogin);
    db1.emit(dbBurst);
    web1.emit(webLogin);
    await world.api.waitFor(() => botMessages().find((m) => m.text.includes(BURST_TEXT) && m.text.includes("db-1")), 10_000);
    await world.api.waitFor(() => botMessages().find((m) => m.text.includes("SSH login") && m.text.includes("web-1")), 10_000);
    await settled();
    expect(botMessages().filter((m) => m.text.includes("SSH login") && m.text.includes("db-1"))).to.deep.equal([]);
    expect(await controller.store.getAlert(dbLogin.id)).to.not.equal(undefined);

    offset += 30 * 60_000;
    await controller.silences.check();
    const digest = await world.api.waitFor(() => botMessages().find((m) => m.text.includes("Silence of <code>label:team=db ssh_session</code>")), 10_000);
    expect(digest.text).to.include("1 new alerts from <b>db-1</b>");
  });

  it("the no-answer policy waits for a silence: nothing while it holds the alert, its time counted from the end (Unsilence included)", async () => {
    const rule = { kind: "http_404_burst", severity: "critical", answer: "block_ip", after: "2s", duration: "1h" } as const;
    controller = await startController({ config: config({ policy: { rules: [rule] } }), logger: silentLogger(), now });
    const responder = createRecordingResponder();
    const web1 = await startAgentNamed("web-1", {}, respondersFor(responder));
    await command("/silence web-1 1h", "Silenced");
    const burst = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    web1.emit(burst);
    await eventually("stored", async () => (await controller!.store.getAlert(burst.id)) !== undefined, 10_000);
    // Well past the rule's 2 s: the policy has not acted on the held alert.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(await controller.store.listActionsForAlert(burst.id)).to.deep.equal([]);

    const list = await command("/silences", "Silences in force (1)");
    const endedAt = now();
    world.api.tapButton(CHAT, list.messageId, list.replyMarkup!.inline_keyboard[0]![0]!.callback_data!, OPERATOR);
    await world.api.waitFor(() => botMessages().find((m) => m.text.includes("Silence of <code>web-1</code>")), 10_000);
    await eventually("the policy blocked after the silence", async () => (await controller!.store.listActionsForAlert(burst.id)).length === 1, 15_000);
    const [action] = await controller.store.listActionsForAlert(burst.id);
    expect(action!.requestedAt.getTime() - endedAt).to.be.at.least(2_000);
    expect(action!.operator.username).to.equal("policy");
    await eventually("the agent ran it", () => responder.executions.length === 1, 10_000);
  });

  it("a maintenance window from a cron expression holds alerts while it lasts, then posts one digest", async () => {
    // Sunday 2026-12-06 03:00:30 UTC on the driven clock.
    offset = Date.UTC(2026, 11, 6, 3, 0, 30) - Date.now();
    const windowed = config({ silences: { windows: [{ name: "sunday-db", cron: "0 3 * * SUN", duration: "2h", match: { agent: "db-1" } }] } });
    controller = await startController({ config: windowed, logger: silentLogger(), now });
    const db1 = await startAgentNamed("db-1");
    const listed = await command("/silences", "Silences in force (1)");
    expect(listed.text).to.include("maintenance window “sunday-db”").and.to.include("2026-12-06 05:00 UTC");

    const burst = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.CRITICAL });
    db1.emit(burst);
    await eventually("stored", async () => (await controller!.store.getAlert(burst.id)) !== undefined, 10_000);
    await settled();
    expect(botMessages().filter((m) => m.text.includes(BURST_TEXT))).to.deep.equal([]);

    offset += 2 * HOUR;
    await controller.silences.check();
    const digest = await world.api.waitFor(() => botMessages().find((m) => m.text.includes("Silence of <code>db-1</code>")), 10_000);
    expect(digest.text).to.include("(maintenance window “sunday-db”) ended").and.to.include("1 new alerts from <b>db-1</b>");
    await settled();
    expect(botMessages().filter((m) => m.text.includes("Silence of"))).to.have.length(1);
    expect(botMessages().filter((m) => m.text.includes(BURST_TEXT))).to.deep.equal([]);
  });
});
