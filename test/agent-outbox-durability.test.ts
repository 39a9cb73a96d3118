import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import Database from "better-sqlite3";
import { STATE_DB_FILE } from "../agent/outbox/state-db.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { freeLoopbackPort, startAgentProcess } from "./support/agent-process.js";

describe("agent outbox durability (real process, SIGKILL)", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;

  before(async () => {
    pki = await createTestPki();
  });
  after(() => pki.cleanup());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-agent-durable-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps alerts emitted while the controller is unreachable across a SIGKILL", async () => {
    const certs = await pki.issueAgent("durable-1");
    const stateDir = join(dir, "state");
    const config = {
      controller: { address: `127.0.0.1:${await freeLoopbackPort()}` },
      tls: { ca: pki.ca, cert: certs.cert, key: certs.key },
      stateDir,
      link: { backoffInitial: "100ms", backoffMax: "500ms" },
      log: { level: "warn" as const },
    };
    const agent = await startAgentProcess({ config, dir, recordFile: join(dir, "executions.jsonl"), emitCount: 5 });
    const emitted = await agent.waitFor("emitted", 10_000);
    expect(emitted.ids).to.have.length(5);
    await agent.kill();
    expect((await agent.exited).signal).to.equal("SIGKILL");

    const db = new Database(join(stateDir, STATE_DB_FILE), { readonly: true });
    const rows = db.prepare("SELECT key, kind, revision FROM outbox ORDER BY seq").all() as Array<{ key: string; kind: string; revision: number }>;
    db.close();
    expect(rows.map((r) => r.key)).to.deep.equal(emitted.ids);
    expect(rows.every((r) => r.kind === "alert" && r.revision === 1)).to.equal(true);
  });
});
