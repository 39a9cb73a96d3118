// `npm run demo`: a controller and an agent on loopback with throw-away
// certificates and store, the built-in Telegram stand-in shown in this
// terminal (or real Telegram when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are
// set), and events made to happen: an SSH login, a 404 scan, a CPU burn.
// Responders run in dry-run mode: they say what they would run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { startAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { createDetectors } from "../agent/detectors/registry.js";
import { initCaFiles, issueAgentFiles, issueControllerFiles, pkiLayout } from "../cli/certs/pki-files.js";
import { createLogger } from "../common/log.js";
import { controllerConfigSchema } from "../controller/config.js";
import { startController } from "../controller/controller.js";
import { createFakeBotApi } from "../testing/fake-bot-api.js";
import { createChatView } from "./chat-view.js";
import { DEMO_SCANNER, createDemoCpu, writeScan, writeSshLogin } from "./scenario.js";

const USAGE = `Usage: npm run demo [-- --auto] [-- --lang es]

  --auto       press "Block IP" on the 404 alert by itself and exit once it is done
  --lang L     language of the chat: en (default) or es
  --keep       keep the temporary folder (certificates, store, logs) at exit
`;

const { values: flags } = parseArgs({
  options: { auto: { type: "boolean" }, lang: { type: "string", default: "en" }, keep: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  strict: true,
});
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (flags.lang !== "en" && flags.lang !== "es") {
  process.stderr.write(`demo: --lang must be en or es\n${USAGE}`);
  process.exit(2);
}

const say = (text: string) => process.stdout.write(`${text}\n`);
const AUTO_TIMEOUT_MS = 60_000;

const work = mkdtempSync(join(tmpdir(), "secarc-demo-"));
const logs = join(work, "logs");
mkdirSync(logs);
const authLog = join(logs, "auth.log");
const accessLog = join(logs, "access.log");
writeFileSync(authLog, "");
writeFileSync(accessLog, "");
const logFile = createWriteStream(join(work, "secarc.log"));
const logger = createLogger({ level: "info", format: "pretty", destination: logFile });

say(`SecARC demo — working folder ${work}`);
say("Making a throw-away CA and certificates for the controller and agent 'demo-web'...");
const pki = pkiLayout(join(work, "pki"));
await initCaFiles(pki.dir);
await issueControllerFiles(pki.dir, { hosts: ["localhost", "127.0.0.1"] });
await issueAgentFiles(pki.dir, { name: "demo-web" });

const realToken = process.env.TELEGRAM_BOT_TOKEN;
const realChat = process.env.TELEGRAM_CHAT_ID;
const useReal = Boolean(realToken && realChat);
const chatId = useReal ? Number(realChat) : 1001;
const operator = { id: useReal ? Number(process.env.TELEGRAM_USER_ID ?? realChat) : 1001, username: "operator", first_name: "Demo" };
const fake = useReal ? undefined : createFakeBotApi();
await fake?.start();

const controller = await startController({
  logger: logger.child({ name: "controller" }),
  config: controllerConfigSchema.parse({
    listen: { host: "127.0.0.1", port: 0 },
    tls: { ca: pki.ca, cert: pki.controller, key: pki.controllerKey },
    store: { path: join(work, "controller.db") },
    metrics: { listen: { host: "127.0.0.1", port: 0 } },
    telegram: {
      ...(fake ? { token: fake.token, apiRoot: fake.apiRoot } : { token: realToken }),
      chats: [{ id: chatId, locale: flags.lang }],
      allowedUsers: [operator.id],
      defaultLocale: flags.lang,
      powerDelay: "1m",
    },
  }),
});
say(`Controller listening on 127.0.0.1:${controller.port} (mutual TLS).`);

const view = fake ? createChatView({ api: fake, chatId, user: operator, write: (text) => process.stdout.write(text) }) : undefined;
if (!fake) say(`Using real Telegram: alerts go to chat ${chatId}; user ${operator.id} may press buttons.`);

const cpu = createDemoCpu();
const agentConfig = agentConfigSchema.parse({
  controller: { address: `127.0.0.1:${controller.port}`, serverName: "localhost" },
  tls: { ca: pki.ca, cert: pki.agent("demo-web").cert, key: pki.agent("demo-web").key },
  stateDir: join(work, "agent"),
  detectors: {
    sshSession: { source: "file", authLog },
    sshBruteForce: { source: "file", authLog },
    nginx404: { accessLog },
    cpuSustained: { interval: "1s", sustainSamples: 2 },
    pollInterval: "200ms",
  },
  // nftables, the default on a real host, so the dry run shows the nft commands
  // even where `nft` is not on a non-root PATH
  responders: { dryRun: true, firewall: { backend: "nftables" } },
});
mkdirSync(agentConfig.stateDir, { recursive: true });
const agentLogger = logger.child({ name: "agent" });
const agent = await startAgent({
  config: agentConfig,
  logger: agentLogger,
  detectors: (section) => createDetectors(section, { logger: agentLogger, now: Date.now, cpuSampler: cpu.sampler }),
});
await agent.waitConnected(15_000);
say("Agent 'demo-web' connected. Its responders run in DRY-RUN mode: they report what they would run and change nothing.");
say(`Logs: ${join(work, "secarc.log")}`);
say("");
if (view) say("Press a button by typing its number or label; /status, /alerts, /blocks, /help work too; q quits.\n");

const timers = [
  setTimeout(() => {
    say("» An SSH login: alice from 203.0.113.7 (a line appended to the auth log the agent follows)");
    writeSshLogin(authLog);
  }, 1_500),
  setTimeout(() => {
    say(`» A scanner: 60 requests for missing pages from ${DEMO_SCANNER} (appended to nginx's access log)`);
    writeScan(accessLog, 60);
  }, 4_000),
  setTimeout(() => {
    say("» A CPU burn: the CPU sampler now reads 95 % with xmrig on top");
    cpu.busy();
  }, 7_000),
];

let stopping = false;
async function stop(code: number): Promise<never> {
  if (stopping) return new Promise(() => {});
  stopping = true;
  for (const timer of timers) clearTimeout(timer);
  view?.stop();
  await agent.close();
  await controller.close();
  await fake?.stop();
  logFile.end();
  if (flags.keep) say(`Kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
  process.exit(code);
}
process.once("SIGINT", () => void stop(0));
process.once("SIGTERM", () => void stop(0));

if (flags.auto && fake && view) {
  const scanMessage = await fake.waitFor(
    () => fake.messagesIn(chatId).find((m) => m.text.includes(DEMO_SCANNER) && m.replyMarkup?.inline_keyboard.flat().some((b) => /block/i.test(b.text))),
    AUTO_TIMEOUT_MS,
  );
  const blockLabel = scanMessage.replyMarkup!.inline_keyboard.flat().find((b) => /block/i.test(b.text))!.text;
  say(`> ${blockLabel}   (typed by --auto)`);
  view.pressLabel(blockLabel);
  await fake.waitFor(() => /done|hecho/i.test(fake.message(chatId, scanMessage.messageId)?.text ?? ""), AUTO_TIMEOUT_MS);
  say("The 404 alert reads done. Demo finished.");
  await stop(0);
}

const rl = createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  if (["q", "quit", "exit"].includes(line.trim().toLowerCase())) {
    void stop(0);
    return;
  }
  const result = view ? view.input(line) : "real Telegram mode: answer in the Telegram app";
  if (result) say(`> ${result}`);
});
rl.on("close", () => {
  // Without a terminal (stdin closed) the demo keeps running until Ctrl-C.
});
