// Acceptance 13.1 and 13.2: the release command's .deb installed on this
// machine with dpkg, both roles started from the installed files as their
// units would start them, a test alert and a real alert → Block IP through
// the fake Bot API, an upgrade to a bumped build keeping everything, the
// refusal of a newer store, then remove (keeps state) and purge (leaves
// nothing). Root only (CI is root). Cleans up after itself even on failure.
import { execFile } from "node:child_process";
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { expect } from "chai";
import { generateNginxLog } from "../bench/nginx-log-gen.js";
import { createFakeBotApi, type FakeBotApi, type FakeMessage } from "../testing/fake-bot-api.js";
import { eventually, freeLoopbackPort } from "./support/agent-process.js";
import { acquireMachineLock } from "./support/machine-lock.js";
import { pathWithoutNode, processExe, processUid, startInstalledService, type InstalledService } from "./support/installed-service.js";

const exec = promisify(execFile);
const ROOT = new URL("..", import.meta.url).pathname;
const UNITS = "/lib/systemd/system";
const PKI = "/etc/secarc/pki";
const STORE = "/var/lib/secarc/controller/controller.db";
const CHAT = 4242;
const OPERATOR = { id: 77, username: "op" };
const ATTACKER = "203.0.113.77"; // TEST-NET-3: blocked here, never contacted
const NEXT = "0.2.1-test";

async function sh(cmd: string, args: string[], env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec(cmd, args, { env: env ?? process.env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === "number" ? err.code : -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" }),
  );
}

async function must(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const r = await sh(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const installed = async (): Promise<boolean> => (await sh("dpkg-query", ["-W", "-f=${Status}", "secarc"])).stdout.includes("install ok installed");
const nftTables = async (): Promise<string> => must("nft", ["list", "tables"]);
const userExists = async (name: string): Promise<boolean> => (await sh("getent", ["passwd", name])).code === 0;

function button(message: FakeMessage, label: string): string {
  const found = message.replyMarkup?.inline_keyboard.flat().find((b) => b.text === label);
  if (!found?.callback_data) throw new Error(`no button "${label}" in ${JSON.stringify(message.replyMarkup)}`);
  return found.callback_data;
}

describe("Debian package: release, dpkg -i, run as the units would, upgrade, remove, purge", function () {
  this.timeout(120_000);
  let out: string;
  let api: FakeBotApi;
  let userBefore: boolean;
  let tablesBefore: string;
  let cleanPath: string;
  let port: number;
  let files: string[] = [];
  const services: InstalledService[] = [];
  let unlock: (() => void) | undefined;
  const deb = (version: string) => join(out, `secarc_${version.replace("-", "~")}_amd64.deb`);

  async function purge(): Promise<void> {
    for (const s of services.splice(0)) await s.stop();
    // Also a removed-but-configured leftover of an earlier run.
    if (await installed() || (await sh("dpkg-query", ["-W", "secarc"])).code === 0) await must("dpkg", ["--purge", "secarc"]);
  }

  before(async function () {
    this.timeout(25 * 60_000);
    if (process.getuid?.() !== 0) throw new Error("the package test needs root (CI runs as root)");
    // dpkg, /etc/secarc and the secarc user are the machine's: one run at a time.
    unlock = await acquireMachineLock("/run/lock/secarc-package-test.lock", 15 * 60_000);
    await purge();
    userBefore = await userExists("secarc");
    tablesBefore = await nftTables();
    out = mkdtempSync(join(tmpdir(), "secarc-release-"));
    cleanPath = pathWithoutNode(join(out, "path"));
    // The release command as CI and a maintainer run it; then the bumped build N+1.
    await must("npm", ["run", "release", "--silent", "--", "--out", out, "--xz-level", "0"]);
    await must("npm", ["run", "release", "--silent", "--", "--out", out, "--xz-level", "0", "--version", NEXT, "--only", "deb", "--no-build"]);
    api = createFakeBotApi();
    await api.start();
    port = await freeLoopbackPort();
  });

  after(async function () {
    this.timeout(120_000);
    if (!unlock) return; // never got the machine: another run holds it, leave its package alone
    await purge();
    if ((await nftTables()).includes("table inet secarc")) await sh("nft", ["delete", "table", "inet", "secarc"]);
    if (!userBefore && (await userExists("secarc"))) await sh("userdel", ["secarc"]);
    await api?.stop();
    if (out) rmSync(out, { recursive: true, force: true });
    unlock?.();
  });

  it("npm run release made the .deb, the tarball of the same tree and the npm package", async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    const control = await must("dpkg-deb", ["--field", deb(version)]);
    expect(control).to.match(new RegExp(`^Version: ${version}$`, "m")).and.match(/^Architecture: amd64$/m);
    expect(await must("dpkg-deb", ["--info", deb(version), "conffiles"])).to.equal("/etc/secarc/controller.yaml\n/etc/secarc/agent.yaml\n");
    const debFiles = (await must("dpkg-deb", ["--contents", deb(version)])).split("\n").filter(Boolean).map((l) => l.split(/\s+/).slice(5).join(" "));
    for (const path of ["./usr/bin/secarc", "./usr/lib/secarc/bin/node", "./usr/lib/secarc/node_modules/better-sqlite3/build/Release/better_sqlite3.node", "./lib/systemd/system/secarc-controller.service", "./lib/systemd/system/secarc-agent.service", "./etc/secarc/controller.yaml", "./etc/secarc/agent.yaml", "./usr/share/man/man1/secarc.1.gz", "./usr/share/bash-completion/completions/secarc"]) {
      expect(debFiles, path).to.include(path);
    }
    const tarball = join(out, `secarc-${version}-linux-x64.tar.xz`);
    const tarFiles = (await must("tar", ["-tJf", tarball])).split("\n").filter(Boolean);
    expect(new Set(tarFiles)).to.deep.equal(new Set(debFiles));
    const npmFiles = (await must("tar", ["-tzf", join(out, `secarc-${version}.tgz`)])).split("\n");
    expect(npmFiles).to.include.members(["package/package.json", "package/bin/secarc.js", "package/dist/bundle/secarc.js", "package/deploy/secarc-agent.service"]);
    expect(npmFiles.some((f) => f.includes("node_modules") || f.endsWith(".test.js"))).to.equal(false);
    const manifest = JSON.parse(await must("tar", ["-xzOf", join(out, `secarc-${version}.tgz`), "package/package.json"])) as Record<string, unknown>;
    expect(manifest.private).to.equal(undefined);
    process.stdout.write(`      .deb ${(statSync(deb(version)).size / 1e6).toFixed(1)} MB (xz -0 here; release default -6)\n`);
  });

  it("dpkg -i installs it: the system user, one state directory per role, secarc --version from the package's own Node", async () => {
    await must("dpkg", ["-i", deb((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version)]);
    files = (await must("dpkg", ["-L", "secarc"])).split("\n").filter((f) => f !== "" && existsSync(f) && !statSync(f).isDirectory());
    expect(files).to.include.members(["/usr/bin/secarc", "/usr/lib/secarc/bin/node", "/etc/secarc/controller.yaml"]);
    const uid = Number((await must("id", ["-u", "secarc"])).trim());
    expect(uid).to.be.below(1000);
    expect(statSync("/var/lib/secarc/controller").uid).to.equal(uid);
    expect(statSync("/var/lib/secarc/controller").mode & 0o777).to.equal(0o700);
    expect(statSync("/var/lib/secarc/agent").uid).to.equal(0);
    const version = await must("/usr/bin/secarc", ["--version"], { PATH: cleanPath });
    expect(version).to.match(/^secarc \d+\.\d+\.\d+\n/).and.contain("protocol: secarc.v1").and.contain("(/usr/lib/secarc/bin/node)");
    expect(version).to.match(/^commit: {3}[0-9a-f]{12}/m);
    expect((await sh("sh", ["-c", "command -v node"], { PATH: cleanPath })).code, "node must not be on the clean PATH").to.not.equal(0);
  });

  it("systemd-analyze verify accepts the installed units (binary, man page and paths exist)", async () => {
    const r = await sh("systemd-analyze", ["verify", `${UNITS}/secarc-controller.service`, `${UNITS}/secarc-agent.service`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr.trim()).to.equal("");
  });

  it("the installed secarc replay reads a log on two threads (its worker beside it in the bundle) with the output of one", async () => {
    // The replay is a bundle of its own (dist/bundle/replay/); the parallel replay starts ./replay-worker.js from there.
    const log = join(out, "access.log");
    generateNginxLog(log, { lines: 40_000, seed: 7, durationSeconds: 1800 });
    const run = async (threads: string) => {
      const r = await sh("/usr/bin/secarc", ["replay", "nginx-404", "--threads", threads, log], { PATH: cleanPath });
      expect(r.code, r.stderr).to.equal(0);
      return { alerts: r.stdout.replace(/"id":"[^"]*",/g, ""), summary: JSON.parse(r.stderr) as { threads: number; alerts: number } };
    };
    const one = await run("1");
    const two = await run("2");
    expect(two.summary.threads).to.equal(2);
    expect(one.summary.alerts).to.be.above(0);
    expect(two.alerts).to.equal(one.alerts);
  });

  it("controller and agent run from the installed files as their units would; secarc test-alert reaches the fake Bot API", async () => {
    const secarc = (args: string[]) => must("/usr/bin/secarc", args, { PATH: cleanPath });
    await secarc(["certs", "init", "--dir", PKI]);
    await secarc(["certs", "issue", "controller", "--host", "localhost", "--host", "127.0.0.1", "--dir", PKI]);
    await secarc(["certs", "issue", "agent", "pkg-1", "--dir", PKI]);
    // The controller's key to the user it runs as, the agent's stays root's (docs/certificates.md).
    chownSync(`${PKI}/controller-key.pem`, Number((await must("id", ["-u", "secarc"])).trim()), Number((await must("id", ["-g", "secarc"])).trim()));
    chmodSync(`${PKI}/controller-key.pem`, 0o600);
    // postinst made it root:secarc 0640; writing keeps owner and mode.
    expect(statSync("/etc/secarc/controller.env").mode & 0o777).to.equal(0o640);
    writeFileSync("/etc/secarc/controller.env", `TELEGRAM_BOT_TOKEN=${api.token}\n`);
    writeFileSync(
      "/etc/secarc/controller.yaml",
      [
        `listen: { host: 127.0.0.1, port: ${port} }`,
        `tls: { ca: ${PKI}/ca.pem, cert: ${PKI}/controller.pem, key: ${PKI}/controller-key.pem }`,
        `telegram: { apiRoot: "${api.apiRoot}", chats: [{ id: ${CHAT} }], allowedUsers: [${OPERATOR.id}], pace: { perChat: 50ms } }`,
        "",
      ].join("\n"),
    );
    const authLog = join(out, "auth.log");
    writeFileSync(authLog, "");
    writeFileSync(
      "/etc/secarc/agent.yaml",
      [
        `controller: { address: "127.0.0.1:${port}", serverName: localhost }`,
        `tls: { ca: ${PKI}/ca.pem, cert: ${PKI}/agents/pkg-1.pem, key: ${PKI}/agents/pkg-1-key.pem }`,
        "link: { backoffInitial: 100ms, backoffMax: 1s }",
        "detectors:",
        `  sshSession: { source: file, authLog: ${authLog} }`,
        `  sshBruteForce: { source: file, authLog: ${authLog} }`,
        "  cpuSustained: { enabled: false }",
        "  nginx404: { enabled: false }",
        "  pollInterval: 200ms",
        "",
      ].join("\n"),
    );
    await startBoth();
    const run = await sh("/usr/bin/secarc", ["test-alert", "--config", "/etc/secarc/agent.yaml"], { PATH: cleanPath });
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.match(/✔ Telegram: message \d+ sent to chat 4242/);
    expect(api.messagesIn(CHAT).some((m) => m.text.includes("test"))).to.equal(true);
  });

  async function startBoth(): Promise<void> {
    const controller = startInstalledService(`${UNITS}/secarc-controller.service`, { path: cleanPath, logFile: join(out, `controller-${Date.now()}.log`) });
    services.push(controller);
    await eventually("the controller listening", () => controller.output().includes('"controller started"') || controller.child.exitCode !== null, 60_000);
    expect(controller.child.exitCode, controller.output()).to.equal(null);
    const agent = startInstalledService(`${UNITS}/secarc-agent.service`, { path: cleanPath, logFile: join(out, `agent-${Date.now()}.log`) });
    services.push(agent);
    await eventually("the agent connected", () => controller.output().includes('"agent connected"') || agent.child.exitCode !== null, 60_000);
    expect(agent.child.exitCode, agent.output()).to.equal(null);
    // The package's own Node runs both, as the units' users.
    for (const [service, uid] of [[controller, Number((await must("id", ["-u", "secarc"])).trim())], [agent, 0]] as const) {
      await eventually("exec of the bundled node", () => processExe(service.child.pid!) === "/usr/lib/secarc/bin/node", 10_000);
      expect(processUid(service.child.pid!)).to.equal(uid);
    }
  }

  async function stopBoth(): Promise<void> {
    for (const s of services.splice(0).reverse()) expect(await s.stop()).to.be.oneOf([0, "SIGTERM"]);
  }

  it("an alert, its Block IP action and the block: stored, and the block in nft's inet secarc table", async () => {
    const lines = Array.from({ length: 6 }, (_, i) => `Dec  1 10:00:0${i} pkg-1 sshd[900]: Failed password for root from ${ATTACKER} port ${40000 + i} ssh2\n`);
    appendFileSync(authLog(), lines.join(""));
    const message = await api.waitFor(() => api.messagesIn(CHAT).find((m) => m.text.includes(ATTACKER) && m.replyMarkup !== undefined), 60_000);
    api.tapButton(CHAT, message.messageId, button(message, "Block IP"), OPERATOR);
    await api.waitFor(() => message.text.includes("done:") || undefined, 60_000);
    expect(await must("nft", ["list", "table", "inet", "secarc"])).to.contain(ATTACKER);
  });

  const authLog = () => join(out, "auth.log");

  function storeCounts(path = STORE): { alerts: number; blockActions: number } {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const alerts = (db.prepare("SELECT count(*) AS n FROM alerts").get() as { n: number }).n;
      const blockActions = (db.prepare("SELECT count(*) AS n FROM actions WHERE state = 'done'").get() as { n: number }).n;
      return { alerts, blockActions };
    } finally {
      db.close();
    }
  }

  it(`upgrade to ${NEXT} keeps the store, the actions, the block and the edited configs`, async () => {
    const before = storeCounts();
    expect(before.alerts).to.be.at.least(1);
    expect(before.blockActions).to.be.at.least(1);
    const configBefore = readFileSync("/etc/secarc/controller.yaml", "utf8");
    await stopBoth();
    await must("dpkg", ["-i", "--force-confold", deb(NEXT)]);
    expect(await must("dpkg-query", ["-W", "-f=${Version}", "secarc"])).to.equal(NEXT.replace("-", "~"));
    expect(await must("/usr/bin/secarc", ["--version"], { PATH: cleanPath })).to.match(new RegExp(`^secarc ${NEXT}\\n`));
    expect(readFileSync("/etc/secarc/controller.yaml", "utf8")).to.equal(configBefore);
    await startBoth();
    expect(storeCounts()).to.deep.equal(before);
    expect(await must("nft", ["list", "table", "inet", "secarc"])).to.contain(ATTACKER);
    const sent = api.messagesIn(CHAT).length;
    api.sendCommand(CHAT, OPERATOR, "/blocks");
    const list = await api.waitFor(() => api.messagesIn(CHAT).slice(sent).find((m) => m.text.includes(ATTACKER)), 30_000);
    expect(list.text).to.contain("pkg-1");
  });

  it("a store written by a newer secarc (a later schema) is refused at start with a clear message", async () => {
    await stopBoth();
    const newer = join(out, "newer.db");
    copyFileSync(STORE, newer);
    const db = new Database(newer);
    db.prepare("UPDATE schema_versions SET version = version + 1 WHERE component = 'core'").run();
    db.close();
    const config = join(out, "newer-controller.yaml");
    writeFileSync(config, `${readFileSync("/etc/secarc/controller.yaml", "utf8")}store: { path: ${newer} }\n`);
    const r = await sh("/usr/bin/secarc", ["controller", "--config", config], { PATH: cleanPath, TELEGRAM_BOT_TOKEN: api.token });
    expect(r.code).to.equal(1);
    expect(r.stderr + r.stdout).to.match(/core schema is version \d+, this secarc knows up to \d+/).and.contain("written by a newer secarc");
  });

  it("dpkg -r keeps state, config and the nft table; dpkg --purge leaves no file, no state and no table", async () => {
    await must("dpkg", ["-r", "secarc"]);
    expect(existsSync("/usr/bin/secarc")).to.equal(false);
    expect(existsSync(STORE)).to.equal(true);
    expect(existsSync("/etc/secarc/controller.yaml")).to.equal(true);
    expect(await nftTables()).to.contain("table inet secarc");
    await must("dpkg", ["--purge", "secarc"]);
    expect((await sh("dpkg", ["-L", "secarc"])).code).to.not.equal(0);
    expect(files.filter((f) => existsSync(f))).to.deep.equal([]);
    for (const dir of ["/var/lib/secarc", "/etc/secarc", "/usr/lib/secarc"]) expect(existsSync(dir), dir).to.equal(false);
    expect(await nftTables()).to.equal(tablesBefore);
  });
});
