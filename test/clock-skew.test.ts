import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import type { Responder } from "../agent/responders/responder.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { formatTime } from "../controller/telegram/text-format.js";
import { Answer, OperatorSchema, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { eventually, testAgentConfig } from "./support/agent-process.js";
import { captureLog, sshAlert, testControllerConfig } from "./support/controller-harness.js";
import { useTelegramWorld } from "./support/telegram-world.js";
import { givenResponders } from "./support/given-responders.js";

const CHAT = 5151;
const OPERATOR = { id: 1001, first_name: "Ops", username: "ops" };
const HOUR = 3_600_000;

/**
 * Issue 19 acceptance 5 and issue 13 acceptance 5: an agent whose clock is
 * off (injected clock). The controller measures the skew from heartbeats,
 * logs it over 30 s and shows it in /status; alert messages show the
 * controller's receive time with the agent's beside; a 1 h block from an
 * agent 1 h ahead expires, in /blocks, 1 h after the controller got the result.
 */
describe("clock skew: one clock for what the operator sees", function () {
  this.timeout(60_000);
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;
  const world = useTelegramWorld("secarc-skew-", async () => {
    await agent?.close();
    agent = undefined;
    await controller?.close();
    controller = undefined;
  });

  async function run(aheadMs: number, responders?: Map<Answer, Responder>) {
    const log = captureLog();
    const config = testControllerConfig(world.pki, world.dir, {
      link: { heartbeatInterval: "300ms" },
      telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "10ms" } },
    });
    controller = await startController({ config, logger: log.logger });
    const certs = await world.pki.issueAgent("skewed-1");
    const agentConfig = parseConfig(agentConfigSchema, testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, "agent"), port: controller.port }), "test");
    agent = await startAgent({ config: agentConfig, logger: silentLogger(), detectors: () => [], responders: givenResponders(responders ?? new Map()), now: () => Date.now() + aheadMs });
    await agent.waitConnected(10_000);
    await eventually("the skew is measured", async () => (await controller!.store.getAgent("skewed-1"))?.clockSkewMs !== undefined);
    return log;
  }

  async function reply(command: string): Promise<string> {
    const before = world.api.messages.length;
    world.api.sendCommand(CHAT, OPERATOR, command);
    return world.api.waitFor(() => world.api.messages.slice(before).find((m) => m.chatId === CHAT && !m.text.startsWith(command))?.text, 10_000);
  }

  it("an agent 5 min ahead is logged and shown in /status", async () => {
    const log = await run(5 * 60_000);
    const skew = (await controller!.store.getAgent("skewed-1"))!.clockSkewMs!;
    expect(skew).to.be.within(5 * 60_000 - 2_000, 5 * 60_000 + 2_000);
    // +5m 0s, or +4m 59s when the heartbeat took over half a second on a loaded machine.
    const fiveMinutes = /clock is \+(5m 0s|4m 59s) off/;
    await eventually("the skew is logged", () => log.lines.some((l) => fiveMinutes.test(String(l.msg))));
    expect(String(log.lines.find((l) => fiveMinutes.test(String(l.msg)))!.msg)).to.include("more than 30 s");
    const status = await reply("/status");
    expect(status).to.include("skewed-1").and.to.match(/clock \+(5m 0s|4m 59s) off the controller's/);
  });

  it("an agent 1 h ahead: the alert and /blocks show controller times, the block's remaining time is right", async () => {
    const agentNow = () => Date.now() + HOUR;
    const firewall: Responder = {
      name: "test-firewall",
      answers: [Answer.BLOCK_IP],
      async execute(action) {
        const ms = Number(action.options?.duration?.seconds ?? 0n) * 1000;
        return { status: ResultStatus.DONE, detail: "blocked", expiresAt: new Date(agentNow() + ms) };
      },
    };
    await run(HOUR, new Map([[Answer.BLOCK_IP, firewall]]));
    const alert = sshAlert();
    alert.detectedAt = timestampFromMs(agentNow());
    alert.updatedAt = alert.detectedAt;
    agent!.emit(alert);
    const message = await world.api.waitFor(() => world.api.messages.find((m) => m.chatId === CHAT && m.text.includes("198.51.100.7")), 15_000);
    const receivedAt = (await controller!.store.getAlert(alert.id))!.receivedAt.getTime();
    expect(message.text).to.include(`🕒 ${formatTime(receivedAt)} (agent clock: ${formatTime(timestampMsOf(alert))}, +`);
    expect(message.text).to.match(/agent clock: [^,]+, \+(1h 0m|59m 59s)\)/);

    const requested = (await controller!.actions.request({ agentId: "skewed-1", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, { telegramUserId: BigInt(OPERATOR.id), username: "ops" }), options: { $typeName: "secarc.v1.ActionOptions", duration: durationFromMs(HOUR) } }));
    expect(requested.ok).to.equal(true);
    const actionId = requested.ok ? requested.action.actionId : "";
    await eventually("the block is done", async () => (await controller!.store.getAction(actionId))?.state === "done");
    const done = (await controller!.store.getAction(actionId))!;
    const left = done.expiresAt!.getTime() - Date.now();
    expect(left, "remaining time in the controller's clock").to.be.within(HOUR - 10_000, HOUR);
    const blocks = await reply("/blocks");
    expect(blocks).to.include("198.51.100.7").and.to.include(`until ${formatTime(done.expiresAt!.getTime())}`);
    expect(blocks).to.not.include(formatTime(Date.now() + 2 * HOUR));
  });
});

function timestampMsOf(alert: { detectedAt?: { seconds: bigint; nanos: number } | undefined }): number {
  return Number(alert.detectedAt!.seconds) * 1000 + Math.floor(alert.detectedAt!.nanos / 1e6);
}
