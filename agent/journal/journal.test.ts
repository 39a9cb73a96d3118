import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { ActionResultSchema, Answer, ResponseActionSchema, ResultStatus, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { openStateDb } from "../outbox/state-db.js";
import { createOutbox } from "../outbox/outbox.js";
import { createJournal, recoveredResult } from "./journal.js";

function action(actionId: string, answer: Answer): ResponseAction {
  return create(ResponseActionSchema, { actionId, alertId: "alert-1", answer, target: { target: { case: "ip", value: "198.51.100.7" } } });
}

describe("action journal", () => {
  let dir: string;
  let db: ReturnType<typeof openStateDb>;
  let clock: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-journal-"));
    db = openStateDb(dir);
    clock = 1_000;
  });
  afterEach(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("records an action once and keeps its result", () => {
    const journal = createJournal({ db, now: () => clock, bootId: "boot-a" });
    expect(journal.get("a1")).to.equal(undefined);
    expect(journal.begin(action("a1", Answer.BLOCK_IP))).to.equal(true);
    expect(journal.begin(action("a1", Answer.BLOCK_IP))).to.equal(false);
    expect(journal.get("a1")?.state).to.equal("begun");
    clock = 2_000;
    journal.finish(create(ActionResultSchema, { actionId: "a1", status: ResultStatus.DONE, detail: "blocked" }));
    const entry = journal.get("a1");
    expect(entry?.state).to.equal("finished");
    if (entry?.state === "finished") {
      expect(entry.result.detail).to.equal("blocked");
      expect(entry.finishedAt).to.equal(2_000);
      expect(entry.action.target?.target.value).to.equal("198.51.100.7");
    }
  });

  it("writes the result and the outbox entry in one transaction", () => {
    const journal = createJournal({ db, now: () => clock, bootId: "boot-a" });
    const outbox = createOutbox({ db, now: () => clock });
    journal.begin(action("a2", Answer.IGNORE));
    const result = create(ActionResultSchema, { actionId: "a2", status: ResultStatus.DONE, detail: "ignored" });
    expect(() =>
      journal.finish(result, () => {
        outbox.putResult(result);
        throw new Error("disk full");
      }),
    ).to.throw("disk full");
    expect(journal.get("a2")?.state).to.equal("begun");
    expect(outbox.depth()).to.equal(0);
    journal.finish(result, () => outbox.putResult(result));
    expect(journal.get("a2")?.state).to.equal("finished");
    expect(outbox.pendingResultIds()).to.deep.equal(["a2"]);
  });

  it("after a restart, reports a begun reboot as done once the host has booted again", () => {
    createJournal({ db, now: () => clock, bootId: "boot-a" }).begin(action("r1", Answer.REBOOT));
    db.close();
    db = openStateDb(dir);
    const journal = createJournal({ db, now: () => clock, bootId: "boot-b" });
    const results = journal.recover();
    expect(results).to.have.length(1);
    expect(results[0]!.status).to.equal(ResultStatus.DONE);
    expect(results[0]!.detail).to.equal("rebooted");
    const entry = journal.get("r1");
    expect(entry?.state).to.equal("finished");
    expect(journal.recover()).to.have.length(0);
  });

  it("after a restart in the same boot, reports a begun action as failed with unknown outcome", () => {
    const before = createJournal({ db, now: () => clock, bootId: "boot-a" });
    before.begin(action("k1", Answer.BLOCK_IP));
    before.begin(action("k2", Answer.REBOOT));
    const journal = createJournal({ db, now: () => clock, bootId: "boot-a" });
    const seen: string[] = [];
    const results = journal.recover((r) => seen.push(r.actionId));
    expect(seen).to.have.members(["k1", "k2"]);
    for (const result of results) {
      expect(result.status).to.equal(ResultStatus.FAILED);
      expect(result.detail).to.match(/^outcome unknown/);
    }
  });

  it("reports a begun non-power action as failed even after a reboot", () => {
    const result = recoveredResult({ action: action("x", Answer.KILL_PROCESS), bootId: "old" }, "new", 5);
    expect(result.status).to.equal(ResultStatus.FAILED);
    const shutdown = recoveredResult({ action: action("y", Answer.SHUTDOWN), bootId: "old" }, "new", 5);
    expect(shutdown.status).to.equal(ResultStatus.DONE);
  });

  it("prunes only acknowledged entries older than the cut-off", () => {
    const journal = createJournal({ db, now: () => clock, bootId: "boot-a" });
    for (const id of ["p1", "p2", "p3"]) {
      journal.begin(action(id, Answer.IGNORE));
      journal.finish(create(ActionResultSchema, { actionId: id, status: ResultStatus.DONE }));
    }
    journal.markAcked("p1");
    journal.markAcked("p2");
    clock = 10_000;
    journal.finish(create(ActionResultSchema, { actionId: "p2", status: ResultStatus.DONE }));
    expect(journal.prune(5_000)).to.equal(1);
    expect(journal.get("p1")).to.equal(undefined);
    expect(journal.get("p2")?.state).to.equal("finished");
    expect(journal.get("p3")?.state).to.equal("finished");
  });
});
