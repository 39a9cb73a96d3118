import { execFile } from "node:child_process";
import { chmodSync, chownSync, closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import Database from "better-sqlite3";
import { silentLogger } from "../common/log.js";
import { startController } from "../controller/controller.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { checkStoreIntegrity } from "../controller/store/store-integrity.js";
import { sshAlert, testControllerConfig } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { letOthersThrough } from "./support/service-user.js";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "..");

/** A store with enough alerts that its tables and indexes span many pages. */
async function makeStore(path: string): Promise<void> {
  const store = openSqliteStore(path);
  await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [], detectors: [], at: new Date() });
  await store.transaction(async (tx) => {
    for (let i = 0; i < 400; i += 1) await tx.upsertAlert("web-1", sshAlert(), new Date());
  });
  await store.close();
}

/** Overwrites page `page` (1-based) of the file with bytes that are no b-tree page. */
function overwritePage(path: string, page: number): void {
  const fd = openSync(path, "r+");
  try {
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const pageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16);
    const garbage = Buffer.alloc(pageSize, 0);
    for (let i = 0; i < pageSize; i += 1) garbage[i] = (i * 131 + 7) % 251;
    writeSync(fd, garbage, 0, pageSize, (page - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

/** The root page of a table or index (an index on alerts, or the alerts table itself). */
function rootPage(path: string, type: "index" | "table"): { name: string; page: number } {
  const db = new Database(path, { readonly: true });
  try {
    const row = db.prepare("SELECT name, rootpage FROM sqlite_master WHERE type = ? AND tbl_name = 'alerts' ORDER BY name LIMIT 1").get(type) as { name: string; rootpage: number };
    return { name: row.name, page: row.rootpage };
  } finally {
    db.close();
  }
}

/**
 * Issue 19 acceptance 3: a store is checked before it is trusted. A store
 * with an overwritten index page and one with an overwritten table page
 * are both refused at start, naming the file and the fix; a read-only
 * store is refused at start for the (non-root) service user; a 0-byte file
 * is not a new store unless --init.
 */
describe("store checks at start", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-store-checks-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const startOn = (path: string, initStore = false) =>
    startController({ config: testControllerConfig(pki, dir, { store: { path } }), logger: silentLogger(), initStore }).then(async (controller) => {
      await controller.close();
      return "started";
    });

  for (const type of ["index", "table"] as const) {
    it(`refuses a store with an overwritten ${type} page, naming the file and the fix`, async () => {
      const path = join(dir, "controller.db");
      await makeStore(path);
      const { name, page } = rootPage(path, type);
      expect(page, name).to.be.greaterThan(1);
      overwritePage(path, page);
      const err = (await startOn(path).catch((e: unknown) => e)) as Error;
      expect(err, "the controller must not start").to.be.instanceOf(Error);
      expect(err.message).to.include(path).and.to.include("damaged").and.to.include("secarc backup").and.to.include("docs/operations.md");
      // The full check names the problem too, and exits non-zero through the CLI.
      expect(checkStoreIntegrity(path).length).to.be.greaterThan(1);
      const configPath = join(dir, "controller.json");
      writeFileSync(configPath, JSON.stringify({ listen: { host: "127.0.0.1", port: 0 }, tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key }, store: { path } }));
      const cli = await run(process.execPath, ["bin/secarc.js", "store", "check", "--config", configPath], { cwd: repoRoot }).catch((e: { code: number; stdout: string }) => e);
      expect((cli as { code?: number }).code).to.equal(1);
      expect(cli.stdout).to.include(`${path}: damaged`);
    });
  }

  it("secarc store check says ok for a sound store", async () => {
    const path = join(dir, "controller.db");
    await makeStore(path);
    const configPath = join(dir, "controller.json");
    writeFileSync(configPath, JSON.stringify({ listen: { host: "127.0.0.1", port: 0 }, tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key }, store: { path } }));
    const { stdout } = await run(process.execPath, ["bin/secarc.js", "store", "check", "--config", configPath], { cwd: repoRoot });
    expect(stdout.trim()).to.equal(`${path}: ok`);
  });

  it("does not take a 0-byte file for a new store unless --init", async () => {
    const path = join(dir, "controller.db");
    writeFileSync(path, "");
    const err = (await startOn(path).catch((e: unknown) => e)) as Error;
    expect(err).to.be.instanceOf(Error);
    expect(err.message).to.include(path).and.to.include("0 bytes").and.to.include("--init").and.to.include("secarc backup");
    expect(await startOn(path, true)).to.equal("started");
    // Now a real store: a later start needs no --init.
    expect(await startOn(path)).to.equal("started");
  });

  it("refuses at start a store the service user cannot write (controller run as nobody)", async function () {
    if (process.getuid?.() !== 0) throw new Error("this test needs root (runuser); CI runs as root");
    // Everything the service user needs is its own, except the store file (root's, 0644).
    const home = join(dir, "svc");
    mkdirSync(home);
    chmodSync(dir, 0o755);
    const files: Record<string, string> = { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key };
    const own: Record<string, string> = {};
    for (const [name, from] of Object.entries(files)) {
      own[name] = join(home, `${name}.pem`);
      copyFileSync(from, own[name]!);
      chmodSync(own[name]!, 0o600);
      chownSync(own[name]!, 65534, 65534);
    }
    const path = join(home, "controller.db");
    await makeStore(path);
    chmodSync(path, 0o644);
    chownSync(home, 65534, 65534);
    const configPath = join(home, "controller.json");
    writeFileSync(configPath, JSON.stringify({ listen: { host: "127.0.0.1", port: 0 }, tls: own, store: { path }, log: { level: "info" } }));
    chownSync(configPath, 65534, 65534);
    const restoreModes = letOthersThrough(repoRoot);
    const result = await run("runuser", ["-u", "nobody", "--", process.execPath, join(repoRoot, "bin/secarc.js"), "controller", "--config", configPath], { cwd: home, timeout: 30_000 })
      .catch((e: { code: number; stderr: string; stdout: string }) => e)
      .finally(restoreModes);
    expect((result as { code?: number }).code, result.stderr).to.equal(1);
    expect(result.stderr).to.include(path).and.to.include("not writable by this user (uid 65534)");
    expect(result.stderr).to.not.include("controller started");
  });
});
