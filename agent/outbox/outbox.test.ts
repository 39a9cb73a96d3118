import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ActionResultSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { newId } from "../../common/ids.js";
import { createOutbox, type Outbox } from "./outbox.js";
import { openStateDb } from "./state-db.js";

function alert(id: string, revision: number, summary = `r${revision}`): Alert {
  return create(AlertSchema, { id, revision, kind: AlertKind.SSH_SESSION, severity: Severity.INFO, summary, detectedAt: timestampFromMs(1000) });
}

describe("outbox", () => {
  let dir: string;
  let outbox: Outbox;
  let db: ReturnType<typeof openStateDb>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-outbox-"));
    db = openStateDb(dir);
    outbox = createOutbox({ db, now: () => 5 });
  });
  afterEach(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps alerts and results oldest first until acknowledged", () => {
    const a = newId();
    const b = newId();
    outbox.putAlert(alert(a, 1));
    outbox.putResult(create(ActionResultSchema, { actionId: "act-1", status: ResultStatus.DONE, detail: "ok" }));
    outbox.putAlert(alert(b, 1));
    const pending = outbox.pending();
    expect(pending.map((e) => (e.kind === "alert" ? e.alert.id : e.result.actionId))).to.deep.equal([a, "act-1", b]);
    expect(outbox.pendingResultIds()).to.deep.equal(["act-1"]);
    outbox.ackAlert(a, 1);
    outbox.ackResult("act-1");
    expect(outbox.depth()).to.equal(1);
    expect(outbox.pending().map((e) => e.kind === "alert" && e.alert.id)).to.deep.equal([b]);
  });

  it("replaces a pending alert by a newer revision and ignores an older one", () => {
    const id = newId();
    expect(outbox.putAlert(alert(id, 1))).to.equal(true);
    expect(outbox.putAlert(alert(id, 3))).to.equal(true);
    expect(outbox.putAlert(alert(id, 2))).to.equal(false);
    expect(outbox.putAlert(alert(id, 3))).to.equal(false);
    const pending = outbox.pending();
    expect(pending).to.have.length(1);
    expect(pending[0]!.kind === "alert" && pending[0]!.alert.revision).to.equal(3);
  });

  it("stores a batch in one transaction, skipping revisions already superseded", () => {
    const a = newId();
    const b = newId();
    outbox.putAlert(alert(a, 2));
    const stored = outbox.putAlerts([alert(a, 1), alert(b, 1), alert(b, 2)]);
    expect(stored.map((x) => [x.id, x.revision])).to.deep.equal([
      [b, 1],
      [b, 2],
    ]);
    expect(outbox.pending().map((e) => e.kind === "alert" && [e.alert.id, e.alert.revision])).to.deep.equal([
      [a, 2],
      [b, 2],
    ]);
  });

  it("keeps a newer revision when an older one is acknowledged", () => {
    const id = newId();
    outbox.putAlert(alert(id, 2));
    outbox.ackAlert(id, 1);
    expect(outbox.depth()).to.equal(1);
    outbox.ackAlert(id, 2);
    expect(outbox.depth()).to.equal(0);
  });

  it("applies batched acknowledgements on its own at the end of the turn", async () => {
    const ids = Array.from({ length: 50 }, () => newId());
    for (const id of ids) outbox.putAlert(alert(id, 1));
    for (const id of ids) outbox.ackAlert(id, 1);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const count = db.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number };
    expect(count.n).to.equal(0);
  });

  it("survives closing and reopening the state file, contents intact", () => {
    const id = newId();
    outbox.putAlert(alert(id, 2, "kept across restarts"));
    db.close();
    db = openStateDb(dir);
    const reopened = createOutbox({ db, now: () => 6 });
    const pending = reopened.pending();
    expect(pending).to.have.length(1);
    const entry = pending[0]!;
    expect(entry.kind).to.equal("alert");
    if (entry.kind === "alert") {
      expect(entry.alert.id).to.equal(id);
      expect(entry.alert.summary).to.equal("kept across restarts");
      expect(entry.alert.revision).to.equal(2);
    }
  });

  it("pages through pending entries oldest first", () => {
    const ids = Array.from({ length: 7 }, () => newId());
    for (const id of ids) outbox.putAlert(alert(id, 1));
    expect(outbox.lastSeq()).to.equal(outbox.pending().at(-1)!.seq);
    const seen: string[] = [];
    let after = 0;
    for (let guard = 0; guard < 10; guard++) {
      const page = outbox.page(after, 3);
      if (page.length === 0) break;
      expect(page.length).to.be.at.most(3);
      for (const entry of page) if (entry.kind === "alert") seen.push(entry.alert.id);
      after = page.at(-1)!.seq;
    }
    expect(seen).to.deep.equal(ids);
    for (const id of ids) outbox.ackAlert(id, 1);
    expect(outbox.lastSeq()).to.equal(0);
  });

  it("opens the state file with WAL and synchronous FULL", () => {
    expect(db.pragma("journal_mode", { simple: true })).to.equal("wal");
    expect(db.pragma("synchronous", { simple: true })).to.equal(2);
  });
});
