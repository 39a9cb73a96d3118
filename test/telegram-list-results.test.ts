import { expect } from "chai";
import { Answer, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { ALL_ANSWERS, sampleAlert } from "../testing/alert-fixtures.js";
import type { FakeMessage } from "../testing/fake-bot-api.js";
import { button, CHAT, CHAT_ES, firstMessage, labels, OPERATOR, startHarness, type Harness } from "./support/telegram-harness.js";

/**
 * Unblock (/blocks) and Revoke (/allows) follow their action to its end in
 * the list message itself: a line when the tap is sent (or queued), edited
 * to the agent's result when it comes, also across a controller restart.
 */
describe("telegram: /blocks and /allows show the result of Unblock and Revoke", function () {
  this.timeout(30_000);
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  const IP = "198.51.100.23";

  /** Blocks IP from an HTTP 404 burst alert, done by the agent. */
  async function blockDone(): Promise<void> {
    await h.raise(sampleAlert(AlertKind.HTTP_404_BURST));
    const alert = await firstMessage(h.api, CHAT, "185 HTTP 404s");
    h.api.tapButton(CHAT, alert.messageId, button(alert, "Block IP"), OPERATOR);
    await h.api.waitFor(() => h.delivered.length === 1, 5000);
    await h.finish(h.delivered[0]!, ResultStatus.DONE, `${IP} blocked for 24h`);
    await h.api.waitFor(() => alert.text.includes("done:"), 5000);
  }

  /** Sends a list command and returns its (new) message containing `includes`. */
  async function list(chatId: number, command: string, includes: string): Promise<FakeMessage> {
    const before = h.api.messagesIn(chatId).length;
    h.api.sendCommand(chatId, OPERATOR, command);
    return h.api.waitFor(() => h.api.messagesIn(chatId).slice(before).find((m) => m.text.includes(includes)), 5000);
  }

  async function shows(message: FakeMessage, text: string): Promise<void> {
    await h.api.waitFor(() => message.text.includes(text), 8000).catch(() => {
      throw new Error(`the list message never showed ${JSON.stringify(text)}; it reads ${JSON.stringify(message.text)}`);
    });
  }

  it("Unblock: the /blocks message shows sent, then done, and its button goes", async () => {
    h = await startHarness();
    await h.connectAgent();
    await blockDone();
    const blocks = await list(CHAT, "/blocks", "Active blocks (1):");
    const before = blocks.text;
    h.api.tapButton(CHAT, blocks.messageId, button(blocks, `Unblock ${IP} (web-1)`), OPERATOR);
    await shows(blocks, `Unblock <code>${IP}</code> on <b>web-1</b>: 📤 sent to the server, waiting for its result`);
    expect(labels(blocks)).to.not.include(`Unblock ${IP} (web-1)`);
    expect(blocks.text).to.include(IP);
    const unblock = h.delivered[1]!;
    expect(unblock.answer).to.equal(Answer.UNBLOCK_IP);
    await h.finish(unblock, ResultStatus.DONE, `${IP} unblocked`);
    await shows(blocks, `Unblock <code>${IP}</code> on <b>web-1</b>: ✅ done: ${IP} unblocked`);
    expect(blocks.text).to.not.include("sent to the server");
    expect(blocks.text.length).to.be.greaterThan(before.length);
    // Edited in place: no new message carries the result.
    expect(h.api.messagesIn(CHAT).filter((m) => m.text.includes("✅ done: 198.51.100.23 unblocked"))).to.have.length(1);
  });

  it("Unblock in Spanish: a refused result shows the server's words, escaped and cleaned", async () => {
    h = await startHarness();
    await h.connectAgent();
    await blockDone();
    const blocks = await list(CHAT_ES, "/blocks", "Bloqueos activos (1):");
    h.api.tapButton(CHAT_ES, blocks.messageId, button(blocks, `Desbloquear ${IP} (web-1)`), OPERATOR);
    await shows(blocks, `Desbloquear <code>${IP}</code> en <b>web-1</b>: 📤 enviado al servidor, esperando su resultado`);
    await h.finish(h.delivered[1]!, ResultStatus.REFUSED, "<b>nft</b> says\u202E no & stop");
    await shows(blocks, `Desbloquear <code>${IP}</code> en <b>web-1</b>: 🚫 rechazado; el servidor informa (en inglés): «&lt;b&gt;nft&lt;/b&gt; says no &amp; stop»`);
    expect(blocks.text).to.not.include("\u202E");
  });

  it("Unblock that fails: the line says failed with the detail", async () => {
    h = await startHarness();
    await h.connectAgent();
    await blockDone();
    const blocks = await list(CHAT, "/blocks", "Active blocks (1):");
    h.api.tapButton(CHAT, blocks.messageId, button(blocks, `Unblock ${IP} (web-1)`), OPERATOR);
    await shows(blocks, "📤 sent to the server");
    await h.finish(h.delivered[1]!, ResultStatus.FAILED, "netlink: Operation not permitted");
    await shows(blocks, `Unblock <code>${IP}</code> on <b>web-1</b>: ❌ failed: netlink: Operation not permitted`);
  });

  it("Revoke: the /allows message shows queued while the agent is offline, then sent, then done", async () => {
    h = await startHarness();
    const answers = [...ALL_ANSWERS, Answer.REVOKE_ALLOW];
    await h.connectAgent("web-1", answers);
    await h.raise(sampleAlert(AlertKind.SSH_SESSION));
    const alert = await firstMessage(h.api, CHAT, "New SSH login");
    h.api.tapButton(CHAT, alert.messageId, button(alert, "Allow"), OPERATOR);
    await h.api.waitFor(() => labels(alert).includes("Allow 1 h"), 5000);
    h.api.tapButton(CHAT, alert.messageId, button(alert, "Allow 1 h"), OPERATOR);
    await h.api.waitFor(() => h.delivered.length === 1, 5000);
    const allowIp = h.delivered[0]!.target?.target.case === "ip" ? (h.delivered[0]!.target.target.value as string) : "";
    expect(allowIp).to.not.equal("");
    await h.finish(h.delivered[0]!, ResultStatus.DONE, `allowed ${allowIp} for 1h`);
    const allows = await list(CHAT, "/allows", "Active allows (1)");
    await h.disconnectAgent();
    h.api.tapButton(CHAT, allows.messageId, button(allows, `Revoke ${allowIp} (web-1)`), OPERATOR);
    await shows(allows, `Revoke allow <code>${allowIp}</code> on <b>web-1</b>: 🕓 queued: server offline, will run when it reconnects`);
    expect(labels(allows)).to.deep.equal([]);
    expect(h.delivered).to.have.length(1);
    await h.connectAgent("web-1", answers);
    await shows(allows, `Revoke allow <code>${allowIp}</code> on <b>web-1</b>: 📤 sent to the server`);
    const revoke = h.delivered[1]!;
    expect(revoke.answer).to.equal(Answer.REVOKE_ALLOW);
    await h.finish(revoke, ResultStatus.DONE, `allow of ${allowIp} revoked`);
    await shows(allows, `Revoke allow <code>${allowIp}</code> on <b>web-1</b>: ✅ done: allow of ${allowIp} revoked`);
  });

  it("a controller restart between the tap and the result still edits the list message", async () => {
    h = await startHarness();
    await h.connectAgent();
    await blockDone();
    const blocks = await list(CHAT, "/blocks", "Active blocks (1):");
    h.api.tapButton(CHAT, blocks.messageId, button(blocks, `Unblock ${IP} (web-1)`), OPERATOR);
    await shows(blocks, "📤 sent to the server");
    await h.restart();
    await h.finish(h.delivered[1]!, ResultStatus.DONE, `${IP} unblocked`);
    await shows(blocks, `Unblock <code>${IP}</code> on <b>web-1</b>: ✅ done: ${IP} unblocked`);
    expect(h.api.messagesIn(CHAT).filter((m) => m.text.includes("unblocked"))).to.have.length(1);
  });
});
