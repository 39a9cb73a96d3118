import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { startAgent, type RunningAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import type { Responder } from "../agent/responders/responder.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import type { ControllerConfigInput } from "../controller/config.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import { createFakeBotApi, type FakeBotApi, type FakeMessage } from "../testing/fake-bot-api.js";
import { Answer, ResultStatus, type ResponseAction } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { freeLoopbackPort, testAgentConfig } from "./support/agent-process.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { givenResponders } from "./support/given-responders.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHAT = 1001;
const OPERATOR = { id: 77, username: "op" };

/**
 * A controller-side process: the SQLite store and the Telegram bridge, driven
 * by lines on stdin, reporting on stdout. It can be SIGKILLed at any point.
 *   raise <id> <publish:0|1> <kill:0|1>  store an SSH-login alert (and tell the bridge; and die right after)
 *   exit                                 stop cleanly
 * It prints "ready", "stored <id>" and "delivered <alertId> <answer>".
 */
const CHILD = `
import { writeSync } from "node:fs";
import { createInterface } from "node:readline";
const root = ${JSON.stringify(ROOT)};
const { openSqliteStore } = await import(root + "controller/store/sqlite-store.js");
const { createEventBus } = await import(root + "controller/domain/events.js");
const { startTelegramBridge } = await import(root + "controller/telegram/bridge.js");
const { telegramConfigSchema } = await import(root + "controller/telegram/config.js");
const { ALL_ANSWERS, sampleAlert } = await import(root + "testing/alert-fixtures.js");
const { silentLogger } = await import(root + "common/log.js");
const say = (line) => writeSync(1, line + "\\n");
const store = openSqliteStore(process.env.DB_PATH);
const events = createEventBus();
store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [...ALL_ANSWERS], detectors: [], at: new Date() });
const { createActionRequests } = await import(root + "controller/domain/action-requests.js");
const actions = createActionRequests({
  store,
  events,
  delivery: {
    deliver(action) {
      store.markActionSent(action.actionId, new Date());
      say("delivered " + action.alertId + " " + action.answer);
      return true;
    },
  },
});
const config = telegramConfigSchema.parse({ token: process.env.BOT_TOKEN, apiRoot: process.env.API_ROOT, chats: [{ id: ${CHAT} }], allowedUsers: [${OPERATOR.id}], pace: { perChat: "50ms" } });
const bridge = await startTelegramBridge({ config, store, events, actions, logger: silentLogger() });
say("ready");
for await (const line of createInterface({ input: process.stdin })) {
  const [command, id, publish, kill] = line.split(" ");
  if (command === "raise") {
    const alert = sampleAlert(1, { id });
    alert.subject.value.user = "user-" + id.slice(-4);
    const { outcome } = store.upsertAlert("web-1", alert, new Date());
    if (publish === "1") events.publish({ type: "alert", alertId: id, agentId: "web-1", outcome });
    say("stored " + id);
    if (kill === "1") process.kill(process.pid, "SIGKILL");
  }
  if (command === "exit") {
    await bridge.stop();
    store.close();
    process.exit(0);
  }
}
`;

interface ControllerChild {
  process: ChildProcess;
  lines: string[];
  waitLine(prefix: string, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  exited: Promise<NodeJS.Signals | number | null>;
}

function startChild(env: Record<string, string>): ControllerChild {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "inherit"] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const wake of [...waiters]) wake();
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
  return {
    process: child,
    lines,
    send: (line) => child.stdin!.write(`${line}\n`),
    exited,
    waitLine(prefix, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((l) => l.startsWith(prefix));
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line "${prefix}" within ${timeoutMs} ms; got ${JSON.stringify(lines)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

function messagesAbout(api: FakeBotApi, id: string): FakeMessage[] {
  return api.messagesIn(CHAT).filter((m) => m.text.includes(`user-${id.slice(-4)}`));
}

/** Temporary folders of this file's tests, removed when the file is done. */
const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

describe("telegram bridge across a controller SIGKILL", function () {
  after(removeTempDirs);
  this.timeout(60_000);
  let api: FakeBotApi;
  let children: ControllerChild[] = [];
  afterEach(async () => {
    for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children = [];
    await api?.stop();
  });

  it("exactly one message per alert after a restart, and earlier buttons still work", async () => {
    api = createFakeBotApi();
    await api.start();
    const env = { DB_PATH: join(tempDir("secarc-telegram-kill-"), "controller.db"), API_ROOT: api.apiRoot, BOT_TOKEN: api.token };
    const first = startChild(env);
    children.push(first);
    await first.waitLine("ready");
    const shown = "0195a1b2-0000-7000-8000-00000000aaaa";
    first.send(`raise ${shown} 1 0`);
    const shownMessage = await api.waitFor(() => messagesAbout(api, shown)[0], 10_000);
    // Stored, then killed before the bridge heard of it.
    const unheard = "0195a1b2-0000-7000-8000-00000000bbbb";
    first.send(`raise ${unheard} 0 0`);
    await first.waitLine(`stored ${unheard}`);
    // Stored and queued, then killed before the message went out.
    const queued = "0195a1b2-0000-7000-8000-00000000cccc";
    first.send(`raise ${queued} 1 1`);
    expect(await first.exited).to.equal("SIGKILL");
    expect(messagesAbout(api, queued)).to.have.length(0);

    const second = startChild(env);
    children.push(second);
    await second.waitLine("ready");
    await api.waitFor(() => messagesAbout(api, unheard).length === 1 && messagesAbout(api, queued).length === 1, 10_000);
    // A button of a message sent by the killed process works in the new one.
    const block = shownMessage.replyMarkup!.inline_keyboard.flat().find((b) => b.text === "Block IP")!;
    api.tapButton(CHAT, shownMessage.messageId, block.callback_data!, OPERATOR);
    expect(await second.waitLine(`delivered ${shown}`)).to.equal(`delivered ${shown} 4`);
    await api.waitFor(() => shownMessage.text.includes("Block IP chosen by @op"), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const id of [shown, unheard, queued]) expect(messagesAbout(api, id), id).to.have.length(1);
    second.send("exit");
    expect(await second.exited).to.equal(0);
  });
  it("kill -9 while an alert's sendMessage is held (Telegram got it, the answer never came): the exact window — one repeat, marked as such; nothing else repeats", async () => {
    api = createFakeBotApi();
    await api.start();
    const env = { DB_PATH: join(tempDir("secarc-telegram-kill-held-"), "controller.db"), API_ROOT: api.apiRoot, BOT_TOKEN: api.token };
    const first = startChild(env);
    children.push(first);
    await first.waitLine("ready");
    const before = "0195a1b2-0000-7000-8000-00000000dddd";
    first.send(`raise ${before} 1 0`);
    await api.waitFor(() => messagesAbout(api, before)[0], 10_000);
    const held = api.hold({ methods: ["sendMessage"], deliverFirst: true });
    const inFlight = "0195a1b2-0000-7000-8000-00000000eeee";
    first.send(`raise ${inFlight} 1 0`);
    await held.arrived;
    // Telegram shows it; the controller never hears back.
    expect(messagesAbout(api, inFlight)).to.have.length(1);
    first.process.kill("SIGKILL");
    expect(await first.exited).to.equal("SIGKILL");
    held.release();

    const second = startChild(env);
    children.push(second);
    await second.waitLine("ready");
    const copies = await api.waitFor(() => (messagesAbout(api, inFlight).length === 2 ? messagesAbout(api, inFlight) : undefined), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The window Telegram leaves (no idempotency key): a send in flight at the kill is made again, and says so.
    expect(messagesAbout(api, inFlight)).to.have.length(2);
    expect(copies[0]!.text).not.to.include("Sent again");
    expect(copies[1]!.text).to.include("↻ Sent again: an earlier send got no answer, so a copy of this alert may be just above.");
    // Sends that were answered before the kill are never repeated.
    expect(messagesAbout(api, before)).to.have.length(1);
    second.send("exit");
    expect(await second.exited).to.equal(0);
  });
});

describe("telegram with the real controller process SIGKILLed", function () {
  this.timeout(90_000);
  let pki: TestPki;
  let api: FakeBotApi;
  let agent: RunningAgent | undefined;
  const controllers: ControllerProcess[] = [];

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  after(removeTempDirs);
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
    for (const c of controllers.splice(0)) {
      c.kill("SIGKILL");
      await c.stopped;
    }
    await api?.stop();
  });

  it("killed between storing an alert and sending its message: exactly one message after restart; its buttons work after another kill", async () => {
    api = createFakeBotApi();
    await api.start();
    const dir = tempDir("secarc-telegram-controller-kill-");
    const port = await freeLoopbackPort();
    const config: ControllerConfigInput = {
      listen: { host: "127.0.0.1", port },
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
      store: { path: join(dir, "controller.db") },
      log: { level: "warn" },
      telegram: { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } },
    };
    const crashing = await startControllerProcess({ config, env: { SECARC_TEST_CRASH_AFTER_STORE: "1" } });
    controllers.push(crashing);
    const executed: ResponseAction[] = [];
    const firewall: Responder = {
      name: "recording-firewall",
      answers: [Answer.IGNORE, Answer.BLOCK_IP],
      async execute(action) {
        executed.push(action);
        return { status: ResultStatus.DONE, detail: `${action.target?.target.value as string} blocked for 24h` };
      },
    };
    const certs = await pki.issueAgent("tg-kill-1");
    const agentConfig = parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, cert: certs.cert, key: certs.key, stateDir: join(dir, "agent"), port }), "test");
    agent = await startAgent({ config: agentConfig, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map(firewall.answers.map((a) => [a, firewall]))) });
    await agent.waitConnected(15_000);
    agent.emit(sampleAlert(AlertKind.HTTP_404_BURST));
    expect(await crashing.stopped).to.equal(null);
    expect(api.messagesIn(CHAT)).to.deep.equal([]);

    const second = await startControllerProcess({ config });
    controllers.push(second);
    const message = await api.waitFor(() => api.messagesIn(CHAT).find((m) => m.text.includes("185 HTTP 404s")), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(api.messagesIn(CHAT)).to.have.length(1);

    second.kill("SIGKILL");
    await second.stopped;
    const third = await startControllerProcess({ config });
    controllers.push(third);
    await agent.waitConnected(15_000);
    const block = message.replyMarkup!.inline_keyboard.flat().find((b) => b.text === "Block IP")!;
    const tap = api.tapButton(CHAT, message.messageId, block.callback_data!, OPERATOR);
    await api.waitFor(() => api.answeredCallbacks.find((a) => a.callbackQueryId === tap), 20_000);
    await api.waitFor(() => message.text.includes("done: 198.51.100.23 blocked for 24h"), 20_000);
    expect(executed.map((a) => Answer[a.answer])).to.deep.equal(["BLOCK_IP"]);
    expect(api.messagesIn(CHAT)).to.have.length(1);
  });
});
