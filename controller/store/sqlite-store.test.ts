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
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("uses WAL with full sync and records the core schema version", () => {
    expect(store.db.pragma("journal_mode", { simple: true })).to.equal("wal");
    expect(store.db.pragma("synchronous", { simple: true })).to.equal(2);
    const row = store.db.prepare("SELECT version FROM schema_versions WHERE component = 'core'").get() as { version: number };
    expect(row.version).to.be.greaterThan(0);
  });

  it("tracks agents online and offline with last-seen and connect counts", () => {
    const first = store.agentConnected({ agentId: "web-1", version: "1.0", hostname: "web", addresses: ["10.0.0.2"], actions: [Answer.BLOCK_IP], detectors: [1], at: at(0) });
    expect(first).to.include({ agentId: "web-1", online: true, connects: 1 });
    store.agentSeen("web-1", at(5_000));
    store.agentDisconnected("web-1", at(6_000));
    let agent = store.getAgent("web-1")!;
    expect(agent.online).to.equal(false);
    expect(agent.lastSeen.getTime()).to.equal(at(6_000).getTime());
    store.agentConnected({ agentId: "web-1", version: "1.1", hostname: "web", addresses: [], actions: [Answer.REBOOT], detectors: [], at: at(10_000) });
    agent = store.getAgent("web-1")!;
    expect(agent).to.include({ online: true, connects: 2, version: "1.1" });
    expect(agent.firstSeen.getTime()).to.equal(at(0).getTime());
    expect(agent.actions).to.deep.equal([Answer.REBOOT]);
    expect(store.listAgents().map((a) => a.agentId)).to.deep.equal(["web-1"]);
  });

  it("keeps each agent's labels and fleet-block opt-out from its last Hello", () => {
    expect(store.agentConnected({ agentId: "db-1", version: "1", hostname: "db", addresses: [], actions: [], detectors: [], at: at(0) })).to.deep.include({ labels: {}, fleetBlockOptOut: false });
    store.agentConnected({ agentId: "db-1", version: "1", hostname: "db", addresses: [], actions: [], detectors: [], at: at(1), labels: { env: "prod", team: "db" }, fleetBlockOptOut: true });
    expect(store.getAgent("db-1")).to.deep.include({ labels: { env: "prod", team: "db" }, fleetBlockOptOut: true });
    store.agentConnected({ agentId: "db-1", version: "1", hostname: "db", addresses: [], actions: [], detectors: [], at: at(2), labels: { team: "web" } });
    expect(store.listAgents()[0]).to.deep.include({ labels: { team: "web" }, fleetBlockOptOut: false });
  });

  it("keeps each agent's host facts from its last Hello; a Hello without them clears them", () => {
    const host = { osName: "Debian GNU/Linux", osVersion: "12 (bookworm)", kernel: "6.1.0-18-amd64", architecture: "x64", bootedAt: at(-7_200_000), memoryTotalBytes: 8 * 1024 ** 3, cpuModel: "AMD EPYC", cpuCores: 2, cpuPhysicalCores: 2, machine: "KVM" };
    const base = { agentId: "db-1", version: "1", hostname: "db", addresses: [], actions: [], detectors: [] };
    expect(store.agentConnected({ ...base, at: at(0) }).hostFacts).to.equal(undefined);
    store.agentConnected({ ...base, at: at(1), hostFacts: host });
    expect(store.getAgent("db-1")!.hostFacts).to.deep.equal(host);
    store.agentConnected({ ...base, at: at(2), hostFacts: { ...host, kernel: "6.1.0-21-amd64" } });
    expect(store.listAgents()[0]!.hostFacts!.kernel).to.equal("6.1.0-21-amd64");
    store.agentConnected({ ...base, at: at(3) });
    expect(store.getAgent("db-1")!.hostFacts).to.equal(undefined);
  });

  it("upserts alerts by id and revision: higher wins, equal or lower leaves it unchanged", () => {
    expect(store.upsertAlert("a", alert("x1", 1), at(0)).outcome).to.equal("inserted");
    expect(store.upsertAlert("a", alert("x1", 1), at(1)).outcome).to.equal("unchanged");
    const updated = store.upsertAlert("a", alert("x1", 3), at(2));
    expect(updated.outcome).to.equal("updated");
    expect(updated.record.alert.severity).to.equal(Severity.CRITICAL);
    expect(updated.record.version).to.equal(2);
    const older = store.upsertAlert("a", alert("x1", 2), at(3));
    expect(older.outcome).to.equal("unchanged");
    expect(older.record.alert.revision).to.equal(3);
    const count = store.db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number };
    expect(count.n).to.equal(1);
    expect(store.getAlert("x1")!.alert.subject.case).to.equal("sshSession");
  });

  it("refuses an alert id that belongs to another agent", () => {
    store.upsertAlert("a", alert("x1", 1), at(0));
    try {
      store.upsertAlert("b", alert("x1", 2), at(1));
      expect.fail("expected a refusal");
    } catch (err) {
      expect(isSecarcError(err, "refused")).to.equal(true);
    }
    expect(store.getAlert("x1")!.alert.revision).to.equal(1);
  });

  it("lists open alerts newest first and leaves resolved ones out", () => {
    store.upsertAlert("a", alert("x1", 1), at(0));
    store.upsertAlert("a", alert("x2", 1), at(1));
    store.upsertAlert("a", alert("x3", 1), at(2));
    store.upsertAlert("a", alert("x2", 2, AlertState.RESOLVED), at(3));
    expect(store.listOpenAlerts(10).map((r) => r.alertId)).to.deep.equal(["x3", "x1"]);
    expect(store.listOpenAlerts(1).map((r) => r.alertId)).to.deep.equal(["x3"]);
  });

  it("keeps actions pending until sent, lists unfinished ones oldest first, and bumps the alert version", () => {
    store.upsertAlert("a", alert("x1", 1), at(0));
    const operator = create(OperatorSchema, { telegramUserId: 42n, username: "op" });
    const base = { agentId: "a", alertId: "x1", operator, requestedAt: at(1), options: undefined };
    const one = store.createAction({ ...base, actionId: "act-1", answer: Answer.BLOCK_IP, target: create(ActionTargetSchema, { target: { case: "ip", value: "198.51.100.7" } }) });
    store.createAction({ ...base, actionId: "act-2", answer: Answer.ALLOW, target: undefined });
    expect(one.state).to.equal("pending");
    expect(one.target?.target).to.deep.equal({ case: "ip", value: "198.51.100.7" });
    expect(one.operator.telegramUserId).to.equal(42n);
    expect(store.getAlert("x1")!.version).to.equal(3);
    store.markActionSent("act-1", at(2));
    expect(store.getAction("act-1")).to.include({ state: "sent" });
    expect(store.getAlert("x1")!.version).to.equal(4);
    expect(store.listUnfinishedActions("a").map((r) => r.actionId)).to.deep.equal(["act-1", "act-2"]);
    expect(store.listActionsForAlert("x1")).to.have.length(2);
    expect(store.listUnfinishedActions("b")).to.deep.equal([]);
  });

  it("keeps the networks a block covers (ActionResult.networks); none: absent", () => {
    store.createAction({ actionId: "act-n", agentId: "a", alertId: undefined, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, {}), requestedAt: at(1), options: undefined, target: undefined });
    store.createAction({ actionId: "act-m", agentId: "a", alertId: undefined, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, {}), requestedAt: at(1), options: undefined, target: undefined });
    expect(store.recordResult("a", create(ActionResultSchema, { actionId: "act-n", status: ResultStatus.DONE, detail: "blocked", networks: ["2001:db8:1:2::/64"] }), at(2))).to.equal(true);
    expect(store.recordResult("a", create(ActionResultSchema, { actionId: "act-m", status: ResultStatus.DONE, detail: "blocked" }), at(2))).to.equal(true);
    expect(store.getAction("act-n")!.networks).to.deep.equal(["2001:db8:1:2::/64"]);
    expect(store.getAction("act-m")!).to.not.have.property("networks");
  });

  it("records a result once: the first wins, repeats and other agents change nothing", () => {
    store.upsertAlert("a", alert("x1", 1), at(0));
    store.createAction({ actionId: "act-1", agentId: "a", alertId: "x1", answer: Answer.BLOCK_IP, operator: create(OperatorSchema, {}), requestedAt: at(1), options: undefined, target: undefined });
    const done = create(ActionResultSchema, { actionId: "act-1", status: ResultStatus.DONE, detail: "blocked", finishedAt: timestampFromMs(at(5).getTime()), expiresAt: timestampFromMs(at(86_400_000).getTime()) });
    expect(store.recordResult("b", done, at(6))).to.equal(false);
    expect(store.recordResult("a", done, at(6))).to.equal(true);
    const version = store.getAlert("x1")!.version;
    expect(store.recordResult("a", create(ActionResultSchema, { actionId: "act-1", status: ResultStatus.FAILED, detail: "late" }), at(7))).to.equal(false);
    expect(store.recordResult("a", create(ActionResultSchema, { actionId: "nope", status: ResultStatus.DONE }), at(7))).to.equal(false);
    const action = store.getAction("act-1")!;
    expect(action).to.include({ state: "done", detail: "blocked", resultStatus: ResultStatus.DONE });
    // In the controller's clock: received at 6, and the time the agent had left (86,400,000 − 5) from then.
    expect(action.finishedAt!.getTime()).to.equal(at(6).getTime());
    expect(action.expiresAt!.getTime()).to.equal(at(6).getTime() + 86_400_000 - 5);
    expect(store.getAlert("x1")!.version).to.equal(version);
    expect(store.listUnfinishedActions("a")).to.deep.equal([]);
  });

  it("stores an agent's result times in the controller's clock: an agent 1 h ahead gets its 1 h block's real expiry", () => {
    store.upsertAlert("a", alert("x1", 1), at(0));
    store.createAction({ actionId: "act-h", agentId: "a", alertId: "x1", answer: Answer.BLOCK_IP, operator: create(OperatorSchema, {}), requestedAt: at(1), options: undefined, target: undefined });
    const ahead = 3_600_000;
    const received = at(10);
    const done = create(ActionResultSchema, { actionId: "act-h", status: ResultStatus.DONE, detail: "blocked for 1h", finishedAt: timestampFromMs(received.getTime() + ahead), expiresAt: timestampFromMs(received.getTime() + ahead + 3_600_000) });
    expect(store.recordResult("a", done, received)).to.equal(true);
    const action = store.getAction("act-h")!;
    expect(action.finishedAt!.getTime()).to.equal(received.getTime());
    expect(action.expiresAt!.getTime()).to.equal(received.getTime() + 3_600_000);
  });

  it("keeps everything across a reopen of the same file", () => {
    store.upsertAlert("a", alert("x1", 2), at(0));
    store.audit({ at: at(1), actor: "telegram:42", event: "answer", detail: "block" });
    store.close();
    store = openSqliteStore(path);
    expect(store.getAlert("x1")!.alert.revision).to.equal(2);
    expect(store.listAudit(5)).to.have.length(1);
    expect(store.listAudit(5)[0]).to.include({ actor: "telegram:42", event: "answer" });
  });

  it("keeps when an alert reached its severity: set on insert, moved only by a revision that changes it", () => {
    expect(store.upsertAlert("a", alert("s1", 1), at(0)).record.severitySince.getTime()).to.equal(at(0).getTime());
    expect(store.upsertAlert("a", alert("s1", 2), at(10)).record.severitySince.getTime()).to.equal(at(10).getTime());
    expect(store.upsertAlert("a", alert("s1", 3), at(20)).record.severitySince.getTime()).to.equal(at(10).getTime());
    expect(store.getAlert("s1")!.severitySince.getTime()).to.equal(at(10).getTime());
    expect(store.listOpenAlerts(1)[0]!.severitySince.getTime()).to.equal(at(10).getTime());
  });

  it("stores the no-answer policy's mark on the actions it chose, and none on the others", () => {
    store.upsertAlert("a", alert("p1", 1), at(0));
    const base = { agentId: "a", alertId: "p1", answer: Answer.BLOCK_IP, operator: create(OperatorSchema, { username: "policy" }), requestedAt: at(1), options: undefined, target: undefined };
    expect(store.createAction({ ...base, actionId: "auto", policy: { afterMs: 300_000 } }).policy).to.deep.equal({ afterMs: 300_000 });
    expect(store.createAction({ ...base, actionId: "human" }).policy).to.equal(undefined);
    expect(store.getAction("auto")!.policy).to.deep.equal({ afterMs: 300_000 });
  });

  it("migrates a version-1 file: an alert's severity clock starts at its receipt", () => {
    store.close();
    rmSync(path);
    const old = new Database(path);
    migrate(old, "core", coreMigrations.filter((m) => m.version === 1));
    old.prepare("INSERT INTO alerts (alert_id, agent_id, revision, kind, severity, state, body, received_at, updated_at, version) VALUES (?, ?, 1, 1, 2, 1, ?, ?, ?, 1)")
      .run("old-1", "a", toBinary(AlertSchema, alert("old-1", 1)), at(5).getTime(), at(7).getTime());
    old.close();
    store = openSqliteStore(path);
    expect(store.getAlert("old-1")!.severitySince.getTime()).to.equal(at(5).getTime());
  });

  it("commits a batch of writes in one transaction", () => {
    store.transaction(() => {
      for (let i = 0; i < 50; i += 1) store.upsertAlert("a", alert(`b${i}`, 1), at(i));
    });
    expect((store.db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number }).n).to.equal(50);
    expect(() => store.transaction(() => {
      store.upsertAlert("a", alert("rolled-back", 1), at(0));
      throw new Error("abort");
    })).to.throw("abort");
    expect(store.getAlert("rolled-back")).to.equal(undefined);
  });
});
