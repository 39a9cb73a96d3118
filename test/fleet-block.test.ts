// Acceptance 16.1: "Block on all servers" from Telegram, on three real
// agents, each on a server namespace of its own with real nginx and real
// nftables, one of them offline at the time of the tap. A scanner and
// another client live in namespaces of their own on the same network. The
// controller (real SQLite, mutual TLS on loopback) talks to the fake Bot API,
// where the test reads the chat and taps buttons.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { formatTime } from "../controller/telegram/text-format.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { createFakeBotApi, type FakeBotApi, type FakeMessage } from "../testing/fake-bot-api.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { createFleetLab, type FleetLab, type FleetServer } from "./support/fleet-lab.js";
import { givenResponders } from "./support/given-responders.js";
import { hostUrl, httpStatus, type LabHost } from "./support/netns.js";
import { createTestPki, type TestPki } from "./support/pki.js";

const CHAT = 5151;
const OPERATOR = { id: 88, username: "op" };
const ANSWERS = [Answer.ALLOW, Answer.IGNORE, Answer.BLOCK_IP, Answer.UNBLOCK_IP];
const NAMES = ["web-1", "web-2", "web-3"];

const labels = (message: FakeMessage): string[] => message.replyMarkup?.inline_keyboard.flat().map((b) => b.text) ?? [];
function button(message: FakeMessage, label: string): string {
  const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
  if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
  return found.callback_data;
}

describe("block on all servers: three agents with real nginx and nftables, one offline, from Telegram", function () {
  this.timeout(180_000);
  let pki: TestPki | undefined;
  let fl: FleetLab | undefined;
  let api: FakeBotApi | undefined;
  let dir: string | undefined;
  let controller: RunningController | undefined;
  let port: number;
  const agents = new Map<string, RunningAgent>();

  const server = (name: string): FleetServer => fl!.servers.find((s) => s.name === name)!;
  const http = (from: LabHost, name: string) => httpStatus(from.ns, hostUrl(server(name).host.ipv4, server(name).nginx.port), 1500);
  const statuses = async (from: LabHost) => Promise.all(NAMES.map((name) => http(from, name)));
  const executed = (name: string, answer: Answer) => server(name).executions.filter((e) => e.answer === answer).length;

  async function startServerAgent(name: string): Promise<RunningAgent> {
    const s = server(name);
    const certs = await pki!.issueAgent(name);
    const config = parseConfig(
      agentConfigSchema,
      {
        ...testAgentConfig({ ca: pki!.ca, cert: certs.cert, key: certs.key, stateDir: s.stateDir, port }),
        detectors: { sshSession: { enabled: false }, sshBruteForce: { enabled: false }, cpuSustained: { enabled: false }, nginx404: { accessLog: s.nginx.accessLog, warning: 5, critical: 40 } },
      },
      `${name} agent`,
    );
    const agent = await startAgent({ config, logger: silentLogger(), responders: givenResponders(s.responders(ANSWERS)) });
    agents.set(name, agent);
    await agent.waitConnected(10_000);
    await eventually(`the controller sees ${name} online`, () => controller!.onlineAgents().includes(name));
    return agent;
  }

  before(async () => {
    pki = await createTestPki();
    fl = await createFleetLab(NAMES);
    api = createFakeBotApi();
    await api.start();
    dir = mkdtempSync(join(tmpdir(), "secarc-fleet-block-"));
    port = await freeLoopbackPort();
    const config = testControllerConfig(pki, dir, {
      listen: { host: "127.0.0.1", port },
      log: { level: "warn" },
      telegram: { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } },
    });
    controller = await startController({ config, logger: silentLogger() });
    for (const name of NAMES) await startServerAgent(name);
    // web-3 goes offline: the controller knows it (and that it can block), it is not connected.
    await agents.get("web-3")!.close();
    agents.delete("web-3");
    await eventually("the controller sees web-3 offline", () => !controller!.onlineAgents().includes("web-3"));
  });

  after(async () => {
    for (const agent of agents.values()) await agent.close().catch(() => {});
    await controller?.close().catch(() => {});
    await api?.stop().catch(() => {});
    await fl?.cleanup().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
  });

  it("blocks the scanner on the two online servers at once, on the offline one when it is back, once each; the summary reads the true count; Unblock everywhere lifts all three", async () => {
    const { scanner, other } = fl!;
    const ip = scanner.ipv4;
    expect(await statuses(scanner)).to.deep.equal([200, 200, 200]);

    // The scan of web-1: 8 missing pages in one curl (warning threshold: 5).
    const args = ["-s", "--max-time", "20", "-w", "%{http_code}\\n"];
    for (let i = 0; i < 8; i++) args.push("-o", "/dev/null", hostUrl(server("web-1").host.ipv4, 80, `/scan/${i}.php`));
    const scan = await fl!.lab.exec(scanner, "curl", args, { timeoutMs: 30_000 });
    expect(scan.stdout.trim().split("\n")).to.deep.equal(Array(8).fill("404"));
    const alert = await api!.waitFor(() => api!.messagesIn(CHAT).find((m) => m.text.includes(`from ${ip}`)), 20_000);
    expect(labels(alert)).to.deep.equal(["Ignore", "Block IP", "Block on all servers", "Allow"]);

    // The tap: web-1 and web-2 are sent the block now, web-3 gets it when it reconnects.
    // A double tap: the second creates nothing.
    const everywhere = button(alert, "Block on all servers");
    const queryId = api!.tapButton(CHAT, alert.messageId, everywhere, OPERATOR);
    const doubleId = api!.tapButton(CHAT, alert.messageId, everywhere, OPERATOR);
    const reply = await api!.waitFor(() => api!.answeredCallbacks.find((a) => a.callbackQueryId === queryId), 15_000);
    expect(reply.text).to.equal("Block on all servers: sent to 2, queued for 1 offline.");
    const doubleReply = await api!.waitFor(() => api!.answeredCallbacks.find((a) => a.callbackQueryId === doubleId), 15_000);
    expect(doubleReply.text).to.equal("This address is already being blocked on all servers from this alert.");
    const summary = await api!.waitFor(() => api!.messagesIn(CHAT).find((m) => m.text.startsWith("🌐 ")), 15_000);
    const twoOfThree = `🌐 ${ip} blocked on 2 of 3 servers · web-3 queued (offline)`;
    await api!.waitFor(() => summary.text === twoOfThree || undefined, 20_000);

    // The two online servers' nginx no longer answers the scanner; the offline one's still does; the other client is served everywhere.
    expect(await statuses(scanner)).to.deep.equal([0, 0, 200]);
    expect(await statuses(other)).to.deep.equal([200, 200, 200]);
    await api!.waitFor(() => alert.text.includes("done:") || undefined, 15_000);
    expect(alert.text).to.include("<i>👤 Block on all servers chosen by @op</i>").and.include(`<i>✅ done: ${ip} blocked for 24h</i>`);
    expect(alert.replyMarkup).to.equal(undefined);
    const beforeReturn = summary.history.length;

    // web-3 comes back: it blocks the scanner too, and the same message says so.
    await startServerAgent("web-3");
    await api!.waitFor(() => summary.text === `🌐 ${ip} blocked on 3 of 3 servers` || undefined, 20_000);
    expect(await statuses(scanner)).to.deep.equal([0, 0, 0]);
    expect(await statuses(other)).to.deep.equal([200, 200, 200]);

    // Every text the message had was a true count: each server not counted is named, web-3 queued until it came back, never fewer blocked later.
    const counts = summary.history.map((text, index) => {
      const match = /^🌐 (\S+) blocked on (\d) of 3 servers((?: · [^·]+)*)$/.exec(text);
      expect(match, text).to.not.equal(null);
      const [, target, blocked, rest] = match!;
      const named = rest!.split(" · ").filter(Boolean);
      expect([target, named.length], text).to.deep.equal([ip, 3 - Number(blocked)]);
      if (index < beforeReturn) expect(named, text).to.include("web-3 queued (offline)");
      return Number(blocked);
    });
    expect(counts).to.deep.equal([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).to.equal(3);
    expect(api!.messagesIn(CHAT).filter((m) => m.text.startsWith("🌐 "))).to.have.length(1);
    // Exactly once on each server, at its responders.
    expect(NAMES.map((name) => executed(name, Answer.BLOCK_IP))).to.deep.equal([1, 1, 1]);

    // /blocks: one row for the fleet block, its servers' states, one "Unblock everywhere" button.
    const sentBefore = api!.messagesIn(CHAT).length;
    api!.sendCommand(CHAT, OPERATOR, "/blocks");
    const list = await api!.waitFor(() => api!.messagesIn(CHAT).slice(sentBefore).find((m) => m.text.includes("on all servers")), 15_000);
    const fleetBlock = (await controller!.fleetBlocks.listActive())[0]!;
    expect(fleetBlock.expiresAt).to.equal(fleetBlock.requestedAt + 24 * 3_600_000);
    expect(list.text).to.equal(`🌐 <code>${ip}</code> on all servers, until ${formatTime(fleetBlock.expiresAt!)}: web-1 blocked · web-2 blocked · web-3 blocked (3/3)`);
    expect(labels(list)).to.deep.equal([`Unblock ${ip} everywhere`]);

    const unblockData = button(list, `Unblock ${ip} everywhere`);
    const unblockId = api!.tapButton(CHAT, list.messageId, unblockData, OPERATOR);
    const unblockReply = await api!.waitFor(() => api!.answeredCallbacks.find((a) => a.callbackQueryId === unblockId), 15_000);
    expect(unblockReply.text).to.equal("Unblock everywhere: sent to 3 servers.");
    // Its button leaves the list; a tap on it from an older copy of the list lifts nothing more.
    await api!.waitFor(() => labels(list).length === 0 || undefined, 15_000);
    const againId = api!.tapButton(CHAT, list.messageId, unblockData, OPERATOR);
    expect((await api!.waitFor(() => api!.answeredCallbacks.find((a) => a.callbackQueryId === againId), 15_000)).text).to.equal("This block on all servers was already lifted.");
    await api!.waitFor(() => summary.text === `🌐 ${ip} unblocked on 3 of 3 servers` || undefined, 20_000);
    expect(await statuses(scanner)).to.deep.equal([200, 200, 200]);
    expect(NAMES.map((name) => executed(name, Answer.UNBLOCK_IP))).to.deep.equal([1, 1, 1]);
    for (const name of NAMES) expect(await server(name).ruleset(), name).to.not.include(ip);

    // Nothing is listed any more.
    const listedBefore = api!.messagesIn(CHAT).length;
    api!.sendCommand(CHAT, OPERATOR, "/blocks");
    const empty = await api!.waitFor(() => api!.messagesIn(CHAT).slice(listedBefore).find((m) => m.text === "No active blocks."), 15_000);
    expect(labels(empty)).to.deep.equal([]);
  });
});
