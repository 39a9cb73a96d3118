import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { isSecarcError } from "../../common/errors.js";
import { ActionOptionsSchema, ActionResultSchema, ActionTargetSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, DetectorSourceKind, DetectorSourceState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { FleetBlock } from "../../controller/store/fleet-block-store.js";
import type { Silence } from "../../controller/store/silence-store.js";
import type { NewAction, Store } from "../../controller/store/store.js";
import { telegramCases } from "./store-conformance-telegram.js";

/**
 * What every implementation of the controller's `Store` must do: the same
 * cases run against SQLite and PostgreSQL (test/store-conformance.test.ts).
 * A new Store method gets its cases here.
 */
export interface StoreHarness {
  /** A new, empty store. */
  open(): Promise<Store>;
  /**
   * A second handle on the same data (another connection, as another
   * controller replica or process would have); closed by `cleanup`.
   */
  sibling(store: Store): Promise<Store>;
  /** Closes every store opened and removes what was created. */
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const at = (ms: number) => new Date(T0 + ms);

function alert(id: string, revision: number, overrides: { kind?: AlertKind; state?: AlertState } = {}): Alert {
  return create(AlertSchema, {
    id,
    revision,
    kind: AlertKind.SSH_SESSION,
    severity: revision > 1 ? Severity.CRITICAL : Severity.WARNING,
    state: AlertState.OPEN,
    detectedAt: timestampFromMs(T0),
    answers: [Answer.ALLOW, Answer.BLOCK_IP],
    summary: `rev ${revision}`,
    subject: { case: "sshSession", value: { user: "root", sourceIp: "198.51.100.7", sourcePort: 50000, sshdPid: 1234 } },
    ...overrides,
  });
}

const hello = (agentId: string, ms: number, extra: Partial<Parameters<Store["agentConnected"]>[0]> = {}): Parameters<Store["agentConnected"]>[0] => ({
  agentId,
  version: "1.0",
  hostname: `${agentId}.example`,
  addresses: [],
  actions: [Answer.BLOCK_IP],
  detectors: [],
  at: at(ms),
  ...extra,
});

const action = (actionId: string, extra: Partial<NewAction> = {}): NewAction => ({
  actionId,
  agentId: "a",
  alertId: undefined,
  answer: Answer.BLOCK_IP,
  operator: create(OperatorSchema, { telegramUserId: 42n, username: "op" }),
  requestedAt: at(1),
  options: undefined,
  target: undefined,
  ...extra,
});

const result = (actionId: string, status: ResultStatus, extra: { detail?: string; networks?: string[]; finishedAt?: number; expiresAt?: number } = {}) =>
  create(ActionResultSchema, {
    actionId,
    status,
    detail: extra.detail ?? "",
    networks: extra.networks ?? [],
    ...(extra.finishedAt !== undefined ? { finishedAt: timestampFromMs(extra.finishedAt) } : {}),
    ...(extra.expiresAt !== undefined ? { expiresAt: timestampFromMs(extra.expiresAt) } : {}),
  });

export function describeStoreConformance(name: string, harness: () => StoreHarness): void {
  describe(`Store conformance: ${name}`, function () {
    this.timeout(60_000);
    let h: StoreHarness;
    let store: Store;
    beforeEach(async () => {
      h = harness();
      store = await h.open();
    });
    afterEach(async () => h.cleanup());

    agentCases(() => store);
    alertCases(() => store, () => h);
    actionCases(() => store, () => h);
    auditAndTransactionCases(() => store, () => h);
    silenceCases(() => store);
    fleetBlockCases(() => store);
    telegramCases(() => store, () => h);
  });
}

function agentCases(s: () => Store): void {
  it("agents: online and offline, last seen, connect count, first seen kept; sorted by id", async () => {
    const first = await s().agentConnected(hello("web-1", 0, { addresses: ["10.0.0.2"], detectors: [1] }));
    expect(first).to.include({ agentId: "web-1", online: true, connects: 1, version: "1.0" });
    await s().agentSeen("web-1", at(5_000));
    await s().agentSeen("web-1", at(4_000));
    expect((await s().getAgent("web-1"))!.lastSeen.getTime(), "last seen never moves back").to.equal(at(5_000).getTime());
    await s().agentDisconnected("web-1", at(6_000));
    let agent = (await s().getAgent("web-1"))!;
    expect(agent.online).to.equal(false);
    expect(agent.lastSeen.getTime()).to.equal(at(6_000).getTime());
    await s().agentConnected(hello("web-1", 10_000, { version: "1.1", actions: [Answer.REBOOT] }));
    await s().agentConnected(hello("db-1", 11_000));
    agent = (await s().getAgent("web-1"))!;
    expect(agent).to.include({ online: true, connects: 2, version: "1.1" });
    expect(agent.firstSeen.getTime()).to.equal(at(0).getTime());
    expect(agent.actions).to.deep.equal([Answer.REBOOT]);
    expect(agent.addresses).to.deep.equal([]);
    expect((await s().listAgents()).map((a) => a.agentId)).to.deep.equal(["db-1", "web-1"]);
    expect(await s().getAgent("nope")).to.equal(undefined);
  });

  it("agents: listAgentStates gives each agent's (or the given agents') presence and detector sources, as listAgents has them, sorted by id", async () => {
    await s().agentConnected(hello("web-1", 0, { certSerial: "0a" }));
    await s().agentConnected(hello("db-1", 1_000));
    await s().setDetectorSources("db-1", [{ detector: "ssh_bruteforce", kind: DetectorSourceKind.JOURNALD, state: DetectorSourceState.FOLLOWING, detail: "sshd.service", since: T0 }]);
    await s().agentDisconnected("web-1", at(2_000));
    await s().setRevokedSerials(["0a"], at(3_000));
    const full = await s().listAgents();
    const states = await s().listAgentStates();
    expect(states.map((a) => a.agentId)).to.deep.equal(["db-1", "web-1"]);
    expect(states).to.deep.equal(full.map(({ agentId, online, lastSeen, revokedAt, detectorSources }) => ({ agentId, online, lastSeen, revokedAt, detectorSources })));
    expect(states[1]).to.deep.include({ online: false, lastSeen: at(2_000), revokedAt: at(3_000) });
    // Of some agents only: those known, sorted by id, read alike.
    await s().agentConnected(hello("app-1", 4_000));
    expect(await s().listAgentStates(["web-1", "nope", "db-1"])).to.deep.equal(states);
    expect((await s().listAgentStates(["app-1"])).map((a) => a.agentId)).to.deep.equal(["app-1"]);
    expect(await s().listAgentStates([])).to.deep.equal([]);
  });

  it("agents: labels, fleet-block opt-out, unavailable answers and host facts are those of the last Hello", async () => {
    const host = { osName: "Debian GNU/Linux", osVersion: "12 (bookworm)", kernel: "6.1.0-18-amd64", architecture: "x64", bootedAt: at(-7_200_000), memoryTotalBytes: 8 * 1024 ** 3, cpuModel: "AMD EPYC", cpuCores: 2, cpuPhysicalCores: 2, machine: "KVM" };
    expect(await s().agentConnected(hello("db-1", 0))).to.deep.include({ labels: {}, fleetBlockOptOut: false, unavailableAnswers: [], hostFacts: undefined });
    await s().agentConnected(hello("db-1", 1, { labels: { env: "prod", team: "db" }, fleetBlockOptOut: true, unavailableAnswers: [{ answer: Answer.CLOSE_SESSION, reason: "no sshd" }], hostFacts: host }));
    expect(await s().getAgent("db-1")).to.deep.include({ labels: { env: "prod", team: "db" }, fleetBlockOptOut: true, unavailableAnswers: [{ answer: Answer.CLOSE_SESSION, reason: "no sshd" }] });
    expect((await s().getAgent("db-1"))!.hostFacts).to.deep.equal(host);
    await s().agentConnected(hello("db-1", 2, { labels: { team: "web" } }));
    expect((await s().listAgents())[0]).to.deep.include({ labels: { team: "web" }, fleetBlockOptOut: false, unavailableAnswers: [], hostFacts: undefined });
  });

  it("agents: certificate serials, revocation marks set once and cleared by the CRL or a connect", async () => {
    await s().agentConnected(hello("web-1", 0, { certSerial: "0a" }));
    await s().agentConnected(hello("web-2", 0, { certSerial: "0b" }));
    await s().agentConnected(hello("web-3", 0));
    expect((await s().getAgent("web-1"))!.certSerial).to.equal("0a");
    expect(await s().setRevokedSerials(["0a", "ff"], at(6))).to.deep.equal(["web-1"]);
    expect(await s().setRevokedSerials(["0a"], at(7)), "already marked").to.deep.equal([]);
    expect((await s().getAgent("web-1"))!.revokedAt?.getTime()).to.equal(at(6).getTime());
    expect((await s().getAgent("web-2"))!.revokedAt).to.equal(undefined);
    await s().setRevokedSerials(["0b"], at(8));
    expect((await s().getAgent("web-1"))!.revokedAt, "no longer in the CRL").to.equal(undefined);
    expect((await s().getAgent("web-2"))!.revokedAt?.getTime()).to.equal(at(8).getTime());
    // A connect without a serial keeps the last one; any connect clears the mark.
    await s().agentConnected(hello("web-2", 9));
    expect(await s().getAgent("web-2")).to.deep.include({ certSerial: "0b", revokedAt: undefined });
  });

  it("agents: detector sources are replaced whole; the clock skew is kept in whole ms", async () => {
    await s().agentConnected(hello("web-1", 0));
    expect((await s().getAgent("web-1"))!).to.deep.include({ detectorSources: [], clockSkewMs: undefined });
    const nginx = { detector: "http_404", kind: DetectorSourceKind.FILE, state: DetectorSourceState.FOLLOWING, detail: "/var/log/nginx/access.log", since: T0 };
    const sshd = { detector: "ssh_bruteforce", kind: DetectorSourceKind.JOURNALD, state: DetectorSourceState.NO_SOURCE, detail: "no sshd unit", since: T0 + 1 };
    await s().setDetectorSources("web-1", [nginx, sshd]);
    expect((await s().getAgent("web-1"))!.detectorSources).to.deep.equal([nginx, sshd]);
    await s().setDetectorSources("web-1", [sshd]);
    expect((await s().getAgent("web-1"))!.detectorSources).to.deep.equal([sshd]);
    await s().setClockSkew("web-1", 1234.6);
    expect((await s().getAgent("web-1"))!.clockSkewMs).to.equal(1235);
    await s().setClockSkew("web-1", -300_000);
    expect((await s().getAgent("web-1"))!.clockSkewMs).to.equal(-300_000);
  });
}

function alertCases(s: () => Store, h: () => StoreHarness): void {
  it("alerts: upserted by id and revision, higher wins, equal or lower leaves it unchanged; the record is whole", async () => {
    expect((await s().upsertAlert("a", alert("x1", 1), at(0))).outcome).to.equal("inserted");
    expect((await s().upsertAlert("a", alert("x1", 1), at(1))).outcome).to.equal("unchanged");
    const updated = await s().upsertAlert("a", alert("x1", 3), at(2));
    expect(updated.outcome).to.equal("updated");
    expect(updated.record.alert.severity).to.equal(Severity.CRITICAL);
    expect(updated.record.version).to.equal(2);
    const older = await s().upsertAlert("a", alert("x1", 2), at(3));
    expect(older.outcome).to.equal("unchanged");
    expect(older.record.alert.revision).to.equal(3);
    const stored = (await s().getAlert("x1"))!;
    expect(stored).to.include({ alertId: "x1", agentId: "a", version: 2 });
    expect(stored.receivedAt.getTime()).to.equal(at(0).getTime());
    expect(stored.updatedAt.getTime()).to.equal(at(2).getTime());
    expect(stored.alert.subject).to.deep.equal({ case: "sshSession", value: alert("x1", 3).subject.value });
    expect(stored.alert.answers).to.deep.equal([Answer.ALLOW, Answer.BLOCK_IP]);
    expect(await s().getAlert("nope")).to.equal(undefined);
  });

  it("alerts: an id that belongs to another agent is refused and changes nothing", async () => {
    await s().upsertAlert("a", alert("x1", 1), at(0));
    const refusal = await s().upsertAlert("b", alert("x1", 2), at(1)).catch((err: unknown) => err);
    expect(isSecarcError(refusal, "refused"), String(refusal)).to.equal(true);
    expect((await s().getAlert("x1"))!.alert.revision).to.equal(1);
  });

  it("alerts: open ones newest first up to a limit, resolved ones left out; open ones of a kind oldest first", async () => {
    await s().upsertAlert("a", alert("x1", 1), at(0));
    await s().upsertAlert("a", alert("x2", 1), at(1));
    await s().upsertAlert("a", alert("x3", 1), at(2));
    await s().upsertAlert("b", alert("h1", 1, { kind: AlertKind.HTTP_404_BURST }), at(3));
    await s().upsertAlert("b", alert("h2", 1, { kind: AlertKind.HTTP_404_BURST }), at(4));
    await s().upsertAlert("a", alert("x2", 2, { state: AlertState.RESOLVED }), at(5));
    await s().upsertAlert("b", alert("h2", 2, { kind: AlertKind.HTTP_404_BURST, state: AlertState.RESOLVED }), at(6));
    expect((await s().listOpenAlerts(10)).map((r) => r.alertId)).to.deep.equal(["h1", "x3", "x1"]);
    expect((await s().listOpenAlerts(2)).map((r) => r.alertId)).to.deep.equal(["h1", "x3"]);
    expect((await s().listOpenAlertsOfKind(AlertKind.SSH_SESSION)).map((r) => r.alertId)).to.deep.equal(["x1", "x3"]);
    expect((await s().listOpenAlertsOfKind(AlertKind.HTTP_404_BURST)).map((r) => r.alertId)).to.deep.equal(["h1"]);
    expect(await s().listOpenAlertsOfKind(AlertKind.CPU_SUSTAINED)).to.deep.equal([]);
  });

  it("alerts: the severity clock starts at receipt and moves only with a revision that changes the severity", async () => {
    expect((await s().upsertAlert("a", alert("s1", 1), at(0))).record.severitySince.getTime()).to.equal(at(0).getTime());
    expect((await s().upsertAlert("a", alert("s1", 2), at(10))).record.severitySince.getTime()).to.equal(at(10).getTime());
    expect((await s().upsertAlert("a", alert("s1", 3), at(20))).record.severitySince.getTime()).to.equal(at(10).getTime());
    expect((await s().getAlert("s1"))!.severitySince.getTime()).to.equal(at(10).getTime());
    expect((await s().listOpenAlerts(1))[0]!.severitySince.getTime()).to.equal(at(10).getTime());
  });

  it("alerts: revisions racing from two handles — the highest wins, each change counted once", async () => {
    const other = await h().sibling(s());
    await s().upsertAlert("web-1", alert("x1", 1), at(0));
    const writes = [];
    for (let revision = 2; revision <= 21; revision++) writes.push((revision % 2 ? s() : other).upsertAlert("web-1", alert("x1", revision), at(revision)));
    const outcomes = (await Promise.all(writes)).map((w) => w.outcome);
    expect(outcomes.every((o) => o === "updated" || o === "unchanged")).to.equal(true);
    const stored = await other.getAlert("x1");
    expect(stored?.alert.revision).to.equal(21);
    expect(stored?.version).to.equal(1 + outcomes.filter((o) => o === "updated").length);
  });
}

function actionCases(s: () => Store, h: () => StoreHarness): void {
  it("actions: pending until sent, unfinished ones oldest first per agent, one answer per alert, each change bumps the alert", async () => {
    await s().upsertAlert("a", alert("x1", 1), at(0));
    await s().upsertAlert("a", alert("x2", 1), at(0));
    const target = create(ActionTargetSchema, { target: { case: "ip", value: "198.51.100.7" } });
    const created = await s().createAction(action("act-1", { alertId: "x1", target }));
    const again = await s().createAction(action("act-1b", { alertId: "x1", answer: Answer.ALLOW }));
    await s().createAction(action("act-2", { alertId: "x2", answer: Answer.ALLOW }));
    await s().createAction(action("act-3"));
    await s().createAction(action("act-4"));
    if (!created.created) throw new Error("act-1 was not stored");
    expect(again.created ? undefined : again.existing.actionId, "the first answer wins").to.equal("act-1");
    expect(await s().getAction("act-1b")).to.equal(undefined);
    const one = created.action;
    expect(one).to.include({ state: "pending", actionId: "act-1", agentId: "a", alertId: "x1", answer: Answer.BLOCK_IP, sentAt: undefined, resultStatus: undefined });
    expect(one.target?.target).to.deep.equal({ case: "ip", value: "198.51.100.7" });
    expect(one.operator.telegramUserId).to.equal(42n);
    expect(one.requestedAt.getTime()).to.equal(at(1).getTime());
    expect((await s().getAlert("x1"))!.version).to.equal(2);
    await s().markActionSent("act-1", at(2));
    await s().markActionSent("act-1", at(3));
    const sent = (await s().getAction("act-1"))!;
    expect(sent.state).to.equal("sent");
    expect(sent.sentAt?.getTime(), "sent once").to.equal(at(2).getTime());
    expect((await s().getAlert("x1"))!.version).to.equal(3);
    expect((await s().listUnfinishedActions("a")).map((r) => r.actionId)).to.deep.equal(["act-1", "act-2", "act-3", "act-4"]);
    expect((await s().listActionsForAlert("x1")).map((r) => r.actionId)).to.deep.equal(["act-1"]);
    expect(await s().listUnfinishedActions("b")).to.deep.equal([]);
    expect(await s().listActionsForAlert("nope")).to.deep.equal([]);
  });

  it("actions: a result is stored once — the first wins; repeats, unknown ids and other agents change nothing", async () => {
    await s().upsertAlert("a", alert("x1", 1), at(0));
    await s().createAction(action("act-1", { alertId: "x1" }));
    const done = result("act-1", ResultStatus.DONE, { detail: "blocked", finishedAt: at(5).getTime(), expiresAt: at(86_400_000).getTime() });
    expect(await s().recordResult("b", done, at(6))).to.equal(false);
    expect(await s().recordResult("a", done, at(6))).to.equal(true);
    const version = (await s().getAlert("x1"))!.version;
    expect(await s().recordResult("a", result("act-1", ResultStatus.FAILED, { detail: "late" }), at(7))).to.equal(false);
    expect(await s().recordResult("a", result("nope", ResultStatus.DONE), at(7))).to.equal(false);
    const stored = (await s().getAction("act-1"))!;
    expect(stored).to.include({ state: "done", detail: "blocked", resultStatus: ResultStatus.DONE, dryRun: false });
    // In the controller's clock: received at 6, and the time the agent had left (86,400,000 − 5) from then.
    expect(stored.finishedAt!.getTime()).to.equal(at(6).getTime());
    expect(stored.expiresAt!.getTime()).to.equal(at(6).getTime() + 86_400_000 - 5);
    expect((await s().getAlert("x1"))!.version).to.equal(version);
    expect(await s().listUnfinishedActions("a")).to.deep.equal([]);
  });

  it("actions: each result status has its state; a dry run and the networks a block covers are kept", async () => {
    for (const id of ["r-done", "r-failed", "r-refused", "r-dry"]) await s().createAction(action(id));
    await s().recordResult("a", result("r-done", ResultStatus.DONE, { networks: ["2001:db8:1:2::/64"] }), at(2));
    await s().recordResult("a", result("r-failed", ResultStatus.FAILED, { detail: "nft: exit 1" }), at(2));
    await s().recordResult("a", result("r-refused", ResultStatus.REFUSED, { detail: "allowed until 14:00" }), at(2));
    await s().recordResult("a", create(ActionResultSchema, { actionId: "r-dry", status: ResultStatus.DONE, dryRun: true }), at(2));
    expect((await s().getAction("r-done"))!).to.deep.include({ state: "done", networks: ["2001:db8:1:2::/64"] });
    expect((await s().getAction("r-failed"))!).to.include({ state: "failed", detail: "nft: exit 1" });
    expect((await s().getAction("r-refused"))!).to.include({ state: "refused", detail: "allowed until 14:00" });
    expect((await s().getAction("r-dry"))!).to.include({ state: "done", dryRun: true });
    expect((await s().getAction("r-failed"))!, "no networks: absent").to.not.have.property("networks");
  });

  it("actions: an agent's result times are moved into the controller's clock (an agent 1 h ahead)", async () => {
    await s().createAction(action("act-h"));
    const ahead = 3_600_000;
    const received = at(10);
    expect(await s().recordResult("a", result("act-h", ResultStatus.DONE, { finishedAt: received.getTime() + ahead, expiresAt: received.getTime() + ahead + 3_600_000 }), received)).to.equal(true);
    const stored = (await s().getAction("act-h"))!;
    expect(stored.finishedAt!.getTime()).to.equal(received.getTime());
    expect(stored.expiresAt!.getTime()).to.equal(received.getTime() + 3_600_000);
  });

  it("actions: options, the no-answer policy's mark and an operator's identity come back as stored", async () => {
    await s().upsertAlert("a", alert("p1", 1), at(0));
    await s().upsertAlert("a", alert("p2", 1), at(0));
    const auto = await s().createAction(action("auto", { alertId: "p1", policy: { afterMs: 300_000 }, operator: create(OperatorSchema, { username: "policy" }) }));
    const human = await s().createAction(action("human", { alertId: "p2", options: create(ActionOptionsSchema, { duration: { seconds: 3600n } }) }));
    expect(auto.created && auto.action.policy).to.deep.equal({ afterMs: 300_000 });
    expect(human.created && human.action.policy).to.equal(undefined);
    expect((await s().getAction("auto"))!.policy).to.deep.equal({ afterMs: 300_000 });
    expect((await s().getAction("auto"))!.operator.username).to.equal("policy");
    expect((await s().getAction("human"))!.options?.duration?.seconds).to.equal(3600n);
  });

  it("actions: results racing from two handles — exactly one is stored, with its networks", async () => {
    const other = await h().sibling(s());
    await s().upsertAlert("web-1", alert("x1", 1), at(0));
    await s().createAction(action("act-1", { agentId: "web-1", alertId: "x1" }));
    await other.markActionSent("act-1", at(2));
    const race = (status: ResultStatus) => result("act-1", status, { detail: ResultStatus[status], networks: [`2001:db8::/${60 + status}`] });
    const won = await Promise.all([
      s().recordResult("web-1", race(ResultStatus.DONE), at(3)),
      other.recordResult("web-1", race(ResultStatus.FAILED), at(3)),
      s().recordResult("web-1", race(ResultStatus.REFUSED), at(3)),
    ]);
    expect(won.filter(Boolean)).to.have.length(1);
    const winner = [ResultStatus.DONE, ResultStatus.FAILED, ResultStatus.REFUSED][won.indexOf(true)]!;
    const stored = await other.getAction("act-1");
    expect(stored?.resultStatus).to.equal(winner);
    expect(stored?.networks).to.deep.equal([`2001:db8::/${60 + winner}`]);
    // created, sent, one result: three changes to the alert's views.
    expect((await s().getAlert("x1"))?.version).to.equal(4);
  });
}

function auditAndTransactionCases(s: () => Store, h: () => StoreHarness): void {
  it("audit: entries newest first up to a limit, as written", async () => {
    for (let i = 0; i < 5; i += 1) await s().audit({ at: at(i), actor: `telegram:${i}`, event: "answer", detail: `block ${i}` });
    const last = await s().listAudit(2);
    expect(last.map((e) => e.detail)).to.deep.equal(["block 4", "block 3"]);
    expect(last[0]).to.include({ actor: "telegram:4", event: "answer" });
    expect(last[0]!.at.getTime()).to.equal(at(4).getTime());
    expect(await s().listAudit(10)).to.have.length(5);
  });

  it("transaction: commits together; a failing step undoes only itself; a rejected transaction leaves nothing", async () => {
    await s().transaction(async (tx) => {
      await tx.upsertAlert("web-1", alert("t1", 1), at(0));
      const refused = await tx.upsertAlert("db-1", alert("t1", 2), at(1)).catch((err: unknown) => err);
      expect(isSecarcError(refused, "refused"), String(refused)).to.equal(true);
      for (let i = 0; i < 50; i += 1) await tx.upsertAlert("web-1", alert(`b${i}`, 1), at(2 + i));
    });
    expect((await s().listOpenAlerts(100)).length).to.equal(51);
    expect((await s().getAlert("t1"))!.alert.revision).to.equal(1);
    const failed = await s()
      .transaction(async (tx) => {
        await tx.upsertAlert("web-1", alert("t3", 1), at(3));
        await tx.audit({ at: at(3), actor: "t", event: "e", detail: "" });
        throw new Error("stop");
      })
      .catch((err: unknown) => err);
    expect(String(failed)).to.include("stop");
    expect(await s().getAlert("t3")).to.equal(undefined);
    expect(await s().listAudit(10)).to.deep.equal([]);
  });

  it("transaction: what it wrote is seen by nobody before its commit, and by everyone after", async () => {
    const other = await h().sibling(s());
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const wrote = new Promise<void>((resolve) => (written = resolve));
    const running = s().transaction(async (tx) => {
      await tx.upsertAlert("web-1", alert("tx-1", 1), at(0));
      written();
      await held;
      return "done";
    });
    await wrote;
    expect(await other.getAlert("tx-1"), "not visible before the commit").to.equal(undefined);
    release();
    expect(await running).to.equal("done");
    expect((await other.getAlert("tx-1"))?.alert.revision).to.equal(1);
    expect((await s().getAlert("tx-1"))?.alert.revision).to.equal(1);
  });
}

const silence = (id: string, overrides: Partial<Silence> = {}): Silence => ({
  silenceId: id,
  matcher: { agentId: "web-1", labels: { team: "db" }, kinds: [AlertKind.SSH_SESSION] },
  startsAt: T0,
  endsAt: T0 + 3_600_000,
  createdBy: "telegram:1 (@op)",
  origin: "command",
  ...overrides,
});

function silenceCases(s: () => Store): void {
  const HOUR = 3_600_000;
  it("silences: stored once (same id left as it is) and read back whole", async () => {
    const store = s().silences;
    await store.saveSilence(silence("a"));
    await store.saveSilence(silence("a", { endsAt: T0 + 5 * HOUR }));
    await store.saveSilence(silence("w", { matcher: { labels: {}, kinds: [] }, origin: "window", createdBy: "window:sunday" }));
    expect(await store.listSilences(new Date(T0))).to.deep.equal([silence("a"), silence("w", { matcher: { labels: {}, kinds: [] }, origin: "window", createdBy: "window:sunday" })]);
  });

  it("silences: ended early only while in force, once", async () => {
    const store = s().silences;
    await store.saveSilence(silence("a"));
    expect(await store.endSilence("a", new Date(T0 - 1))).to.equal(false);
    expect(await store.endSilence("a", new Date(T0 + 10))).to.equal(true);
    expect(await store.endSilence("a", new Date(T0 + 20))).to.equal(false);
    expect(await store.endSilence("nope", new Date(T0 + 20))).to.equal(false);
    expect((await store.listSilences(new Date(T0)))[0]).to.deep.include({ endedAt: T0 + 10 });
  });

  it("silences: those ending after a time and every undigested one are listed; the first digest time stays", async () => {
    const store = s().silences;
    await store.saveSilence(silence("old", { startsAt: T0 - 3 * HOUR, endsAt: T0 - 2 * HOUR }));
    await store.saveSilence(silence("old-digested", { startsAt: T0 - 3 * HOUR, endsAt: T0 - 2 * HOUR }));
    await store.markSilenceDigested("old-digested", new Date(T0 - HOUR));
    await store.markSilenceDigested("old-digested", new Date(T0));
    await store.saveSilence(silence("now"));
    expect((await store.listSilences(new Date(T0))).map((x) => x.silenceId)).to.deep.equal(["old", "now"]);
    expect((await store.listSilences(new Date(T0 - 4 * HOUR))).find((x) => x.silenceId === "old-digested")?.digestedAt).to.equal(T0 - HOUR);
  });
}

const block = (id: string, overrides: Partial<FleetBlock> = {}): FleetBlock => ({ fleetId: id, ip: "203.0.113.7", requestedBy: "telegram:1 (@op)", requestedAt: T0, ...overrides });

function fleetBlockCases(s: () => Store): void {
  it("fleet blocks: stored once and read back whole; active ones oldest first", async () => {
    const store = s().fleetBlocks;
    await store.saveFleetBlock(block("f1", { alertId: "a-1" }));
    await store.saveFleetBlock(block("f1", { ip: "198.51.100.1" }));
    await store.saveFleetBlock(block("f2", { requestedAt: T0 + 5, ip: "2001:db8::/64", expiresAt: T0 + 86_400_005 }));
    expect(await store.getFleetBlock("f1")).to.deep.equal(block("f1", { alertId: "a-1" }));
    expect(await store.getFleetBlock("f2")).to.deep.equal(block("f2", { requestedAt: T0 + 5, ip: "2001:db8::/64", expiresAt: T0 + 86_400_005 }));
    expect(await store.getFleetBlock("nope")).to.equal(undefined);
    expect((await store.listActiveFleetBlocks()).map((b) => b.fleetId)).to.deep.equal(["f1", "f2"]);
  });

  it("fleet blocks: each agent gets one place in a block, whatever its member row holds", async () => {
    const store = s().fleetBlocks;
    await store.saveFleetBlock(block("f1"));
    expect(await store.claimMember("f1", "web-2")).to.equal(true);
    expect(await store.claimMember("f1", "web-1")).to.equal(true);
    expect(await store.claimMember("f1", "web-2")).to.equal(false);
    await store.setMember({ fleetId: "f1", agentId: "web-2", actionId: "act-2" });
    await store.setMember({ fleetId: "f1", agentId: "web-1", skipped: "opted_out" });
    expect(await store.claimMember("f1", "web-2")).to.equal(false);
    await store.setMember({ fleetId: "f1", agentId: "web-2", actionId: "act-2", unblockActionId: "un-2" });
    expect(await store.listMembers("f1")).to.deep.equal([
      { fleetId: "f1", agentId: "web-1", skipped: "opted_out" },
      { fleetId: "f1", agentId: "web-2", actionId: "act-2", unblockActionId: "un-2" },
    ]);
    expect(await store.fleetOfAction("act-2")).to.equal("f1");
    expect(await store.fleetOfAction("un-2")).to.equal("f1");
    expect(await store.fleetOfAction("act-9")).to.equal(undefined);
  });

  it("fleet blocks: lifted once; a lifted one is no longer active", async () => {
    const store = s().fleetBlocks;
    await store.saveFleetBlock(block("f1"));
    expect(await store.liftFleetBlock("f1", new Date(T0 + 10), "telegram:2 (@other)")).to.equal(true);
    expect(await store.liftFleetBlock("f1", new Date(T0 + 20), "telegram:1 (@op)")).to.equal(false);
    expect(await store.liftFleetBlock("nope", new Date(T0 + 20), "x")).to.equal(false);
    expect(await store.getFleetBlock("f1")).to.deep.equal(block("f1", { liftedAt: T0 + 10, liftedBy: "telegram:2 (@other)" }));
    expect(await store.listActiveFleetBlocks()).to.deep.equal([]);
  });

  it("fleet blocks: the lifted ones whose unblocks were not all requested are listed", async () => {
    const store = s().fleetBlocks;
    for (const id of ["f1", "f2", "f3"]) await store.saveFleetBlock(block(id));
    for (const id of ["f1", "f2", "f3"]) await store.claimMember(id, "web-1");
    await store.setMember({ fleetId: "f1", agentId: "web-1", actionId: "a1" });
    await store.setMember({ fleetId: "f2", agentId: "web-1", actionId: "a2", unblockActionId: "u2" });
    await store.setMember({ fleetId: "f3", agentId: "web-1", skipped: "opted_out" });
    expect(await store.listLiftedUnfinished()).to.deep.equal([]);
    for (const id of ["f1", "f2", "f3"]) await store.liftFleetBlock(id, new Date(T0 + 1), "x");
    expect((await store.listLiftedUnfinished()).map((b) => b.fleetId)).to.deep.equal(["f1"]);
  });
}
