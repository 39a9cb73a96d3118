import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema, type AgentConfigInput } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { useTelegramWorld } from "./support/telegram-world.js";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const CHAT = 4001;
const OPERATOR = { id: 77, first_name: "Ana" };
const MIN = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Issue 12, acceptance 4: an agent on a host with no auth log and no sshd
 * in journald says so in `secarc agent --check`, in /status, and, after
 * detectors.blindAlertAfter (10 min by default, on the controller's driven
 * clock), in a Telegram warning that the same message resolves once the
 * auth log appears. Real agent and controller over mutual TLS, real SQLite,
 * the fake Bot API.
 */
describe("a detector that sees nothing says so: agent --check, /status, blind warning resolved in the same message", function () {
  this.timeout(90_000);
  let controller: RunningController | undefined;
  let agent: RunningAgent | undefined;
  const world = useTelegramWorld("secarc-blind-", async () => {
    await agent?.close();
    agent = undefined;
    await controller?.close();
    controller = undefined;
  });

  function agentInput(port: number, certs: { cert: string; key: string }): AgentConfigInput {
    const authLog = join(world.dir, "auth.log");
    // A unit no journal has entries of: "auto" finds neither the auth log nor sshd in journald.
    const ssh = { authLog, journalUnits: ["secarc-no-such-unit"] };
    return {
      ...testAgentConfig({ ca: world.pki.ca, cert: certs.cert, key: certs.key, stateDir: join(world.dir, "agent-state"), port }),
      detectors: { sshSession: ssh, sshBruteForce: ssh, cpuSustained: { enabled: false }, nginx404: { enabled: false }, pollInterval: "200ms" },
    };
  }

  it("no auth log and no sshd journal: no source everywhere, a warning after blindAlertAfter, resolved when the log appears", async () => {
    const port = await freeLoopbackPort();
    const certs = await world.pki.issueAgent("web-1");
    const input = agentInput(port, certs);
    const configFile = join(world.dir, "agent.json");
    writeFileSync(configFile, JSON.stringify(input));

    // 1. secarc agent --check: prints each detector's source, exits 1.
    const check = await run(process.execPath, [join(root, "bin/secarc.js"), "agent", "--check", "--config", configFile]).then(
      () => ({ code: 0, stdout: "" }),
      (err: { code: number; stdout: string }) => err,
    );
    expect(check.code, "exit code of --check with a blind detector").to.equal(1);
    expect(check.stdout).to.match(/^ssh-session +no source: no auth log and no sshd in journald$/m);
    expect(check.stdout).to.match(/^ssh-brute-force +no source: no auth log and no sshd in journald$/m);
    expect(check.stdout).to.include("2 of 2 detectors see nothing");

    // 2. A controller on a driven clock, an agent that reports its sources.
    let offset = 0;
    const now = () => Date.now() + offset;
    const config = testControllerConfig(world.pki, world.dir, {
      listen: { host: "127.0.0.1", port },
      link: { heartbeatInterval: "300ms" },
      telegram: { token: world.api.token, apiRoot: world.api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } },
    });
    controller = await startController({ config, logger: silentLogger(), now });
    agent = await startAgent({ config: parseConfig(agentConfigSchema, input, "test"), logger: silentLogger() });
    await agent.waitConnected(10_000);

    // 3. /status shows it (once the agent has told the controller).
    const stored = async () => (await controller!.store.getAgent("web-1"))?.detectorSources ?? [];
    await eventually("the controller stores the sources", async () => (await stored()).length === 2 && (await stored()).every((s) => s.detail === "no auth log and no sshd in journald"));
    world.api.sendCommand(CHAT, OPERATOR, "/status");
    const status = await world.api.waitFor(() => world.api.messagesIn(CHAT).find((m) => m.text.startsWith("Servers (1)")), 10_000);
    expect(status.text).to.include("🙈 ssh-brute-force: no source: no auth log and no sshd in journald");
    expect(status.text).to.include("🙈 ssh-session: no source: no auth log and no sshd in journald");

    // 4. Not before blindAlertAfter (10 min); then one warning per blind detector.
    const blindMessages = () => world.api.messagesIn(CHAT).filter((m) => m.history.some((text) => text.includes("sees nothing since")));
    offset = 9 * MIN;
    await sleep(1_500);
    expect(blindMessages(), "no warning before blindAlertAfter").to.deep.equal([]);
    offset = 10 * MIN + 1_000;
    await world.api.waitFor(() => blindMessages().length === 2 || undefined, 10_000);
    const [first] = blindMessages();
    expect(first!.text).to.include("🟠 <b>WARNING</b> · Detector blind");
    expect(first!.text).to.match(/🙈 <b>ssh-(session|brute-force)<\/b> on <b>web-1<\/b> sees nothing since .*: no auth log and no sshd in journald/);
    expect(first!.replyMarkup).to.equal(undefined);
    await sleep(1_000);
    expect(blindMessages(), "one warning per detector, not repeated").to.have.length(2);

    // 5. The auth log appears: the same messages are edited to resolved.
    writeFileSync(join(world.dir, "auth.log"), "");
    await world.api.waitFor(() => blindMessages().every((m) => m.text.includes("sees its source again")) || undefined, 15_000);
    for (const message of blindMessages()) {
      expect(message.text).to.include(`(following ${join(world.dir, "auth.log")})`);
      const edits = world.api.calls.filter((c) => c.method === "editMessageText" && c.params.message_id === message.messageId);
      expect(edits.length, "resolved by editing the warning's own message").to.be.at.least(1);
    }
    expect(blindMessages()).to.have.length(2);
    expect((await controller.store.listOpenAlertsOfKind(AlertKind.DETECTOR_BLIND))).to.deep.equal([]);
    expect((await stored()).map((s) => s.detector).sort()).to.deep.equal(["ssh-brute-force", "ssh-session"]);
    const records = world.api.messagesIn(CHAT).length;
    expect(records).to.equal(3); // /status + two warnings
  });
});
