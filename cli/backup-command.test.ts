import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { sampleAlert } from "../testing/alert-fixtures.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { backupStore } from "./backup-command.js";

describe("secarc backup", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "secarc-backup-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("copies a store that is open and being written to, and the copy opens as a store with the same alerts", async () => {
    const path = join(dir, "controller.db");
    const store = openSqliteStore(path);
    const alert = sampleAlert(AlertKind.SSH_SESSION);
    try {
      await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web-1", addresses: [], actions: [], detectors: [], at: new Date() });
      await store.upsertAlert("web-1", alert, new Date());
      const pages = await backupStore(path, join(dir, "copy.db"));
      expect(pages).to.be.greaterThan(0);
    } finally {
      await store.close();
    }
    const copy = openSqliteStore(join(dir, "copy.db"));
    try {
      expect((await copy.getAlert(alert.id))?.agentId).to.equal("web-1");
      expect((await copy.listAgents()).map((a) => a.agentId)).to.deep.equal(["web-1"]);
    } finally {
      await copy.close();
    }
  });

  it("never overwrites a file, and names a missing store", async () => {
    const path = join(dir, "controller.db");
    await openSqliteStore(path).close();
    writeFileSync(join(dir, "exists.db"), "keep me");
    let error: unknown;
    await backupStore(path, join(dir, "exists.db")).catch((err: unknown) => (error = err));
    expect(String(error)).to.include("exists.db exists");
    await backupStore(join(dir, "none.db"), join(dir, "x.db")).catch((err: unknown) => (error = err));
    expect(String(error)).to.include(`no store at ${join(dir, "none.db")}`);
  });
});
