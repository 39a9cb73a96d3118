import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parseConfig } from "../common/config.js";
import { isSecarcError } from "../common/errors.js";
import { controllerConfigSchema } from "../controller/config.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { connectRawAgent } from "./support/raw-agent-client.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tls = { ca: "/etc/secarc/ca.pem", cert: "/etc/secarc/controller.pem", key: "/etc/secarc/controller-key.pem" };

describe("controller config", () => {
  it("fills every default from a config that names only the TLS files", () => {
    const config = parseConfig(controllerConfigSchema, { tls }, "test");
    expect(config.listen).to.deep.equal({ host: "0.0.0.0", port: 8443 });
    expect(config.link).to.deep.equal({ heartbeatInterval: 10_000, pingInterval: 10_000, pingTimeout: 10_000, maxMessageBytes: 1_048_576, offlineAlertAfter: 120_000, maxStreamAge: 2_700_000, maxStreamAgeJitter: 270_000, maxOpeningConnections: 500 });
    expect(config.link.pingInterval + config.link.pingTimeout).to.be.at.most(30_000);
    expect(config.log).to.deep.equal({ level: "info", format: "json" });
    expect(config.store.path).to.equal("/var/lib/secarc/controller/controller.db");
    expect(config.telegram).to.equal(undefined);
    expect(config.metrics).to.equal(undefined);
  });

  it("parses durations and keeps explicit values", () => {
    const config = parseConfig(controllerConfigSchema, { tls: { ...tls, crl: "/etc/secarc/crl.pem" }, listen: { port: 9443 }, link: { pingInterval: "5s", pingTimeout: 3, heartbeatInterval: "1m" } }, "test");
    expect(config.listen).to.deep.equal({ host: "0.0.0.0", port: 9443 });
    expect(config.link).to.include({ pingInterval: 5_000, pingTimeout: 3_000, heartbeatInterval: 60_000 });
    expect(config.tls.crl).to.equal("/etc/secarc/crl.pem");
  });

  it("link.maxStreamAge: 0 turns it off; the jitter defaults to a tenth of the age", () => {
    const off = parseConfig(controllerConfigSchema, { tls, link: { maxStreamAge: 0 } }, "test");
    expect(off.link).to.include({ maxStreamAge: 0, maxStreamAgeJitter: 0 });
    const short = parseConfig(controllerConfigSchema, { tls, link: { maxStreamAge: "2s" } }, "test");
    expect(short.link).to.include({ maxStreamAge: 2_000, maxStreamAgeJitter: 200 });
    const set = parseConfig(controllerConfigSchema, { tls, link: { maxStreamAge: "1h", maxStreamAgeJitter: "30m" } }, "test");
    expect(set.link).to.include({ maxStreamAge: 3_600_000, maxStreamAgeJitter: 1_800_000 });
  });

  for (const [name, value, key] of [
    ["an unknown top-level key", { tls, listn: {} }, "listn: unknown key"],
    ["an unknown nested key", { tls, link: { pingIntervall: "5s" } }, "link.pingIntervall: unknown key"],
    ["a missing TLS section", {}, "tls:"],
    ["a bad duration", { tls, link: { pingTimeout: "soon" } }, "link.pingTimeout"],
    ["a port out of range", { tls, listen: { port: 70000 } }, "listen.port"],
    ["a maximum stream age under 1s", { tls, link: { maxStreamAge: "500ms" } }, "link.maxStreamAge: must be 0 (off) or between 1s and 30d"],
    ["a stream age jitter over half the age", { tls, link: { maxStreamAge: "10m", maxStreamAgeJitter: "6m" } }, "link.maxStreamAgeJitter: must be at most half of link.maxStreamAge"],
    ["no connection allowed to open", { tls, link: { maxOpeningConnections: 0 } }, "link.maxOpeningConnections"],
  ] as const) {
    it(`refuses ${name}, naming the key`, () => {
      try {
        parseConfig(controllerConfigSchema, value, "controller.yaml");
        expect.fail("expected a config error");
      } catch (err) {
        expect(isSecarcError(err, "config_invalid")).to.equal(true);
        expect((err as Error).message).to.include(key);
      }
    });
  }
});

describe("secarc controller --config FILE", function () {
  this.timeout(40_000);
  let pki: TestPki;
  let dir: string;

  before(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-cli-controller-"));
  });
  after(() => {
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts from a YAML file, serves an agent, and stops with exit code 0 on SIGTERM", async () => {
    const configPath = join(dir, "controller.yaml");
    const dbPath = join(dir, "controller.db");
    writeFileSync(
      configPath,
      [
        "listen:",
        "  host: 127.0.0.1",
        "  port: 0",
        "tls:",
        `  ca: ${pki.ca}`,
        `  cert: ${pki.controller.cert}`,
        `  key: ${pki.controller.key}`,
        "store:",
        `  path: ${dbPath}`,
        "link:",
        "  heartbeatInterval: 5s",
        "",
      ].join("\n"),
    );
    const child = spawn(process.execPath, [join(repoRoot, "bin", "secarc.js"), "controller", "--config", configPath], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      const port = await new Promise<number>((resolvePort, reject) => {
        const timer = setTimeout(() => reject(new Error("no 'controller started' line within 20 s")), 20_000);
        createInterface({ input: child.stderr! }).on("line", (line) => {
          const entry = JSON.parse(line) as { msg?: string; port?: number };
          if (entry.msg === "controller started" && typeof entry.port === "number") {
            clearTimeout(timer);
            resolvePort(entry.port);
          }
        });
      });
      const client = connectRawAgent({ port, ca: pki.ca, ...(await pki.issueAgent("cli-agent")) });
      client.hello({ agentId: "cli-agent" });
      const welcome = await client.waitFor((m) => m.payload.case === "welcome");
      expect(Number((welcome.payload.value as { heartbeatInterval?: { seconds: bigint } }).heartbeatInterval?.seconds)).to.equal(5);
      child.kill("SIGTERM");
      expect((await client.ended).code).to.equal(14);
      client.close();
      expect(await exited).to.equal(0);
      const store = openSqliteStore(dbPath);
      expect((await store.getAgent("cli-agent"))).to.include({ online: false });
      await store.close();
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("exits 1 naming the bad key when the config is invalid", async () => {
    const configPath = join(dir, "bad.yaml");
    writeFileSync(configPath, `tls: { ca: a, cert: b, key: c }\nlisten: { prot: 1 }\n`);
    const child = spawn(process.execPath, [join(repoRoot, "bin", "secarc.js"), "controller", "--config", configPath], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    expect(code).to.equal(1);
    expect(stderr).to.include("listen.prot: unknown key");
  });
});
