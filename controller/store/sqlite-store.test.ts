import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { ActionResultSchema, ActionTargetSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { isSecarcError } from "../../common/errors.js";
import { coreMigrations } from "./core-schema.js";
import { migrate } from "./migrate.js";
import { openSqliteStore, type SqliteStore } from "./sqlite-store.js";

function alert(id: string, revision: number, state = AlertState.OPEN): Alert {
  return create(AlertSchema, {
    id,
    revision,
    kind: AlertKind.SSH_SESSION,
    severity: revision > 1 ? Severity.CRITICAL : Severity.WARNING,
    state,
    detectedAt: timestampFromMs(1_700_000_000_000),
    answers: [Answer.ALLOW, Answer.BLOCK_IP],
    summary: `rev ${revision}`,
    subject: { case: "sshSession", value: { user: "root", sourceIp: "198.51.100.7", sourcePort: 50000, sshdPid: 1234 } },
  });
}

const at = (ms: number) => new Date(1_700_000_000_000 + ms);

describe("openSqliteStore", () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-store-"));
    path = join(dir, "controller.db");
    store = openSqliteStore(path);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("uses WAL with full sync and records the core schema version", () => {
    expect(store.db.pragma("journal_mode", { simple: true })).to.equal("wal");
    expect(store.db.pragma("synchronous", { simple: true })).to.equal(2);
    const row = store.db.prepare("SELECT version FROM schema_versions WHERE component = 'core'").get() as { version: number };
    expect(row.version).to.be.greaterThan(0);
  });

  it("keeps everything across a reopen of the same file", async () => {
    await store.upsertAlert("a", alert("x1", 2), at(0));
    await store.audit({ at: at(1), actor: "telegram:42", event: "answer", detail: "block" });
    await store.close();
    store = openSqliteStore(path);
    expect((await store.getAlert("x1"))!.alert.revision).to.equal(2);
    expect((await store.listAudit(5))).to.have.length(1);
    expect((await store.listAudit(5))[0]).to.include({ actor: "telegram:42", event: "answer" });
  });

  it("migrates a version-1 file: an alert's severity clock starts at its receipt", async () => {
    await store.close();
    rmSync(path);
    const old = new Database(path);
    migrate(old, "core", coreMigrations.filter((m) => m.version === 1));
    old.prepare("INSERT INTO alerts (alert_id, agent_id, revision, kind, severity, state, body, received_at, updated_at, version) VALUES (?, ?, 1, 1, 2, 1, ?, ?, ?, 1)")
      .run("old-1", "a", toBinary(AlertSchema, alert("old-1", 1)), at(5).getTime(), at(7).getTime());
    old.close();
    store = openSqliteStore(path);
    expect((await store.getAlert("old-1"))!.severitySince.getTime()).to.equal(at(5).getTime());
  });

  it("stores an alert's bytes as received when given, and reads them back as that alert", async () => {
    const sent = alert("raw-1", 1);
    const bytes = toBinary(AlertSchema, sent);
    // A view into a larger buffer, as the link's frames are.
    const frame = new Uint8Array(bytes.length + 7);
    frame.set(bytes, 3);
    await store.upsertAlert("a", sent, at(0), frame.subarray(3, 3 + bytes.length));
    const row = store.db.prepare("SELECT body FROM alerts WHERE alert_id = 'raw-1'").get() as { body: Buffer };
    expect(Buffer.compare(row.body, Buffer.from(bytes))).to.equal(0);
    expect((await store.getAlert("raw-1"))!.alert.summary).to.equal("rev 1");
  });

  it("with checkNesting, refuses a call on the store from inside its own transaction; without, other callers wait for the commit", async () => {
    await store.close();
    store = openSqliteStore(path, { checkNesting: true });
    const nested = store.transaction(async () => store.getAlert("x"));
    let error: unknown;
    await nested.catch((err: unknown) => (error = err));
    expect(isSecarcError(error, "internal")).to.equal(true);
    await store.close();
    store = openSqliteStore(path);
    const order: string[] = [];
    const tx = store.transaction(async (t) => {
      await t.upsertAlert("a", alert("w1", 1), at(0));
      order.push("tx");
    });
    const outside = store.getAlert("w1").then((record) => order.push(record ? "outside saw it" : "outside missed it"));
    await Promise.all([tx, outside]);
    expect(order).to.deep.equal(["tx", "outside saw it"]);
  });

});
