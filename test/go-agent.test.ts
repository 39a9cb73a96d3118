import { expect } from "chai";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { newId } from "../common/ids.js";
import { silentLogger } from "../common/log.js";
import type { ControllerConfigInput } from "../controller/config.js";
import { startController, type RunningController } from "../controller/controller.js";
import { ActionResultSchema, Answer, OperatorSchema, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort } from "./support/agent-process.js";
import { sshAlert, testControllerConfig, testOperator } from "./support/controller-harness.js";
import { curlMetrics } from "./support/e2e-metrics.js";
import { buildGoAgent, startGoAgent, type GoAgentProcess } from "./support/go-agent-process.js";
import { createTestPki, type CertPaths, type TestPki } from "./support/pki.js";

/**
 * The Go example agent (examples/go-agent/), built offline from Debian's Go
 * packages and code generated from the committed protos, against the real
 * controller over mutual TLS on loopback, with its real SQLite store.
 */
describe("Go example agent against the controller", function () {
  this.timeout(120_000);
  let pki: TestPki;
  let dir: string;
  let port: number;
  let controller: RunningController | undefined;
  const agents: GoAgentProcess[] = [];

  before(async function () {
    // A cold Go build cache on a loaded machine takes a while; warm: seconds.
    this.timeout(300_000);
    await buildGoAgent(290_000);
    pki = await createTestPki();
  });
  after(() => pki?.cleanup());

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-go-agent-"));
    port = await freeLoopbackPort();
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await stopController();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runController(link?: { heartbeatInterval: string; pingTimeout: string }, extra: Partial<ControllerConfigInput> = {}): Promise<RunningController> {
    const overrides = { listen: { host: "127.0.0.1", port }, log: { level: "silent" as const }, ...(link ? { link } : {}), ...extra };
    controller = await startController({ config: testControllerConfig(pki, dir, overrides), logger: silentLogger() });
    return controller;
  }
  async function stopController(): Promise<void> {
    await controller?.close();
    controller = undefined;
  }

  /** The agent's arguments: its certificate, a state dir and an SSH log of its own under `dir`. */
  function agentArgs(name: string, certs: CertPaths, extra: string[] = []): string[] {
    return [
      "--target", `127.0.0.1:${port}`, "--ca", pki.ca, "--cert", certs.cert, "--key", certs.key,
      "--state-dir", join(dir, `${name}-state`), "--ssh-log", sshLog(name), "--poll", "100ms", "--backoff-max", "1s", ...extra,
    ];
  }
  function sshLog(name: string): string {
    const path = join(dir, `${name}-auth.log`);
    if (!existsSync(path)) writeFileSync(path, "Dec  1 09:00:00 web-1 sshd[100]: Accepted publickey for old from 192.0.2.1 port 40000 ssh2\n");
    return path;
  }
  function login(name: string, user: string, sourcePort: number): void {
    appendFileSync(sshLog(name), `Dec  1 10:00:00 web-1 sshd[${4000 + (sourcePort % 1000)}]: Accepted publickey for ${user} from 198.51.100.7 port ${sourcePort} ssh2: ED25519 SHA256:x\n`);
  }
  function run(name: string, certs: CertPaths, extra: string[] = []): GoAgentProcess {
    const agent = startGoAgent(agentArgs(name, certs, extra));
    agents.push(agent);
    return agent;
  }
  function forget(agent: GoAgentProcess): void {
    agents.splice(agents.indexOf(agent), 1);
  }

  it("sends Hello with its detector and actions, and its alerts are acked and stored once across a controller restart, and an agent power cut", async () => {
    const certs = await pki.issueAgent("go-1");
    const running = await runController();
    const first = run("go-1", certs);
    await first.waitFor("welcome", {}, 15_000);
    await first.waitFor("detector_started", {}, 10_000);
    const agentRecord = (await running.store.getAgent("go-1"))!;
    expect(agentRecord.detectors).to.deep.equal([AlertKind.SSH_SESSION]);
    expect(agentRecord.actions).to.deep.equal([Answer.IGNORE]);
    expect(agentRecord.version).to.equal("go-example 0.1.0");

    login("go-1", "alice", 50001);
    const a1 = (await first.waitFor("alert_queued", { user: "alice" }, 10_000)).alert_id as string;
    await first.waitFor("alert_acked", { alert_id: a1 }, 10_000);
    const stored = (await running.store.getAlert(a1))!;
    expect(stored.agentId).to.equal("go-1");
    expect(stored.alert.subject.case).to.equal("sshSession");
    if (stored.alert.subject.case === "sshSession") {
      expect(stored.alert.subject.value).to.include({ user: "alice", sourceIp: "198.51.100.7", sourcePort: 50001, authMethod: "publickey" });
    }

    // The controller goes away; a login meanwhile waits in the outbox, and
    // the agent itself loses power before the controller is back.
    await stopController();
    await first.waitFor("stream_ended", { code: "UNAVAILABLE", retry: true }, 15_000);
    login("go-1", "bob", 50002);
    const a2 = (await first.waitFor("alert_queued", { user: "bob" }, 10_000)).alert_id as string;
    await first.kill();
    forget(first);

    const back = await runController();
    const second = run("go-1", certs);
    await second.waitFor("welcome", {}, 15_000);
    await second.waitFor("alert_acked", { alert_id: a2 }, 10_000);
    expect(second.named("alert_queued"), "the log position survived: no login is raised twice").to.have.length(0);
    expect(second.named("alert_sent").map((e) => e.alert_id), "only the unacknowledged alert is resent").to.deep.equal([a2]);

    const mine = (await back.store.listOpenAlerts(100)).filter((r) => r.agentId === "go-1");
    expect(mine.map((r) => r.alertId).sort()).to.deep.equal([a1, a2].sort());
    expect(mine.every((r) => r.alert.revision === 1)).to.equal(true);
    const users = mine.map((r) => (r.alert.subject.case === "sshSession" ? r.alert.subject.value.user : "")).sort();
    expect(users, "the login from before the first start is history, not an alert").to.deep.equal(["alice", "bob"]);
  });

  it("carries out an IGNORE exactly once across an agent crash, and answers a later redelivery from its journal", async () => {
    const certs = await pki.issueAgent("go-2");
    let running = await runController();
    const first = run("go-2", certs, ["--crash-after-result"]);
    await first.waitFor("welcome", {}, 15_000);
    await first.waitFor("detector_started", {}, 10_000);
    login("go-2", "carol", 50003);
    const alertId = (await first.waitFor("alert_queued", { user: "carol" }, 10_000)).alert_id as string;
    await first.waitFor("alert_acked", { alert_id: alertId }, 10_000);

    const outcome = (await running.actions.request({ agentId: "go-2", alertId, answer: Answer.IGNORE, operator: create(OperatorSchema, testOperator) }));
    if (!outcome.ok) throw new Error(`request refused: ${outcome.detail}`);
    expect(outcome.delivered).to.equal(true);
    const actionId = outcome.action.actionId;
    expect((await first.exited).code, "the injected crash: result journaled, not sent").to.equal(3);
    forget(first);
    expect(first.named("action_executed", { action_id: actionId })).to.have.length(1);
    expect((await running.store.getAction(actionId))!.resultStatus).to.equal(undefined);

    // A backup of the controller's store taken now still has the action unfinished.
    await stopController();
    const backup = join(dir, "backup");
    for (const suffix of ["", "-wal", "-shm"]) if (existsSync(join(dir, `controller.db${suffix}`))) copyFileSync(join(dir, `controller.db${suffix}`), `${backup}${suffix}`);
    running = await runController();

    const second = run("go-2", certs);
    await second.waitFor("result_acked", { action_id: actionId }, 15_000);
    expect(second.named("action_executed"), "the restarted agent resends the journaled result, it does not run the action again").to.have.length(0);
    const done = (await running.store.getAction(actionId))!;
    expect(done.resultStatus).to.equal(ResultStatus.DONE);
    expect(done.detail).to.equal("ignored");

    // The controller's store is restored from the backup: it resends the
    // action, and the agent answers from its journal.
    await stopController();
    for (const suffix of ["", "-wal", "-shm"]) {
      rmSync(join(dir, `controller.db${suffix}`), { force: true });
      if (existsSync(`${backup}${suffix}`)) copyFileSync(`${backup}${suffix}`, join(dir, `controller.db${suffix}`));
    }
    running = await runController();
    expect((await running.store.getAction(actionId))!.resultStatus, "the restored store lost the result").to.equal(undefined);
    await second.waitFor("action_replayed", { action_id: actionId }, 15_000);
    await second.waitFor("result_acked", { action_id: actionId }, 10_000);
    expect(second.named("action_executed")).to.have.length(0);
    expect((await running.store.getAction(actionId))!.resultStatus).to.equal(ResultStatus.DONE);
    expect((await running.store.getAction(actionId))!.detail).to.equal("ignored");

    const journal = readFileSync(join(dir, "go-2-state", "journal.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { op: string; id: string });
    expect(journal.filter((r) => r.id === actionId && r.op === "start"), "one start record: one execution").to.have.length(1);
  });

  it("moves what the controller rejects (AlertReject, ResultReject) out of its outbox and journal's resends, into dead-letter.jsonl, on the same stream", async () => {
    const running = await runController();
    const owner = run("go-4a", await pki.issueAgent("go-4a"));
    await owner.waitFor("welcome", {}, 15_000);
    await owner.waitFor("detector_started", {}, 10_000);
    login("go-4a", "dave", 50004);
    const taken = (await owner.waitFor("alert_queued", { user: "dave" }, 10_000)).alert_id as string;
    await owner.waitFor("alert_acked", { alert_id: taken }, 10_000);

    // go-4b's state as a backup restored from another host might leave it:
    // an alert whose id go-4a owns, an alert without subject, a good one,
    // and the result of an action this controller never sent.
    const foreign = sshAlert({ id: taken });
    const invalid = sshAlert();
    invalid.subject = { case: undefined };
    const fine = sshAlert();
    const state = join(dir, "go-4b-state");
    mkdirSync(state, { recursive: true });
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
    writeFileSync(join(state, "outbox.jsonl"), [foreign, invalid, fine].map((alert, i) => `${JSON.stringify({ op: "put", seq: i + 1, alert: b64(toBinary(AlertSchema, alert)) })}\n`).join(""));
    const strayId = newId(Date.now());
    const stray = create(ActionResultSchema, { actionId: strayId, status: ResultStatus.DONE, detail: "ignored", finishedAt: timestampNow() });
    writeFileSync(join(state, "journal.jsonl"), `${JSON.stringify({ op: "start", id: strayId, answer: "ANSWER_IGNORE", at: new Date().toISOString() })}\n${JSON.stringify({ op: "finish", id: strayId, result: b64(toBinary(ActionResultSchema, stray)) })}\n`);

    const certs = await pki.issueAgent("go-4b");
    const agent = run("go-4b", certs);
    await agent.waitFor("alert_acked", { alert_id: fine.id }, 15_000);
    await agent.waitFor("alert_dead_lettered", { alert_id: foreign.id, reason: "ALERT_REJECT_REASON_FOREIGN_ID" }, 10_000);
    await agent.waitFor("alert_dead_lettered", { alert_id: invalid.id, reason: "ALERT_REJECT_REASON_INVALID" }, 10_000);
    await agent.waitFor("result_rejected", { action_id: strayId, reason: "RESULT_REJECT_REASON_UNKNOWN_ACTION" }, 10_000);
    expect(agent.named("welcome"), "one stream carried it all").to.have.length(1);
    expect(agent.named("stream_ended")).to.have.length(0);

    expect((await running.store.getAlert(taken))!.agentId, "the owner keeps its alert").to.equal("go-4a");
    expect((await running.store.getAlert(invalid.id))).to.equal(undefined);
    expect((await running.store.getAlert(fine.id))!.agentId).to.equal("go-4b");
    const letters = readFileSync(join(state, "dead-letter.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { alert_id: string; reason: string; detail: string; alert: string });
    expect(letters.map((l) => l.alert_id).sort()).to.deep.equal([foreign.id, invalid.id].sort());
    expect(letters.every((l) => l.detail !== "" && l.alert !== ""), "each letter keeps the reason and the alert").to.equal(true);

    // Restarted, it resends neither: the outbox holds nothing, the result is given up.
    await agent.stop();
    forget(agent);
    const again = run("go-4b", certs);
    await again.waitFor("welcome", {}, 15_000);
    const records = readFileSync(join(state, "outbox.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { op: string });
    expect(records.map((r) => r.op), "the outbox compacted on start holds only the log position").to.deep.equal(["source"]);
    const journal = readFileSync(join(state, "journal.jsonl"), "utf8");
    expect(journal).to.contain(`"op":"rejected","id":"${strayId}"`);
  });

  it("resumes its TLS session when it reconnects to a controller restarted with the same tls.ticketKeyFile", async () => {
    const certs = await pki.issueAgent("go-tickets");
    const extra = {
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key, ticketKeyFile: join(dir, "tickets.key") },
      metrics: { listen: { host: "127.0.0.1", port: 0 } },
    };
    const first = await runController(undefined, extra);
    const agent = run("go-tickets", certs);
    await agent.waitFor("welcome", {}, 15_000);
    expect((await curlMetrics(first.metricsPort!)).value("secarc_link_tls_handshakes_total", { resumed: "false" })).to.equal(1);
    // TLS 1.3 tickets come after the handshake.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stopController();
    await agent.waitFor("stream_ended", { code: "UNAVAILABLE", retry: true }, 15_000);
    const again = await runController(undefined, extra);
    await eventually("the second Welcome", () => agent.named("welcome").length >= 2, 15_000);
    expect(agent.named("welcome")).to.have.length(2);
    expect((await curlMetrics(again.metricsPort!)).value("secarc_link_tls_handshakes_total", { resumed: "true" })).to.equal(1);
    expect((await curlMetrics(again.metricsPort!)).value("secarc_link_tls_handshakes_total", { resumed: "false" })).to.equal(0);
  });

  it("keeps a quiet stream alive with heartbeats at the Welcome's interval", async () => {
    // Silence limit: 3 heartbeat intervals + the ping timeout = 3.5 s.
    const running = await runController({ heartbeatInterval: "500ms", pingTimeout: "2s" });
    const agent = run("go-5", await pki.issueAgent("go-5"));
    await agent.waitFor("welcome", {}, 15_000);
    const connectedSeen = (await running.store.getAgent("go-5"))!.lastSeen.getTime();
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(agent.named("stream_ended"), "a stream with nothing but heartbeats is not ended as silent").to.have.length(0);
    expect(running.onlineAgents()).to.include("go-5");
    expect((await running.store.getAgent("go-5"))!.lastSeen.getTime() - connectedSeen, "heartbeats count as signs of life").to.be.greaterThan(3_000);
  });

  it("stops with PERMISSION_DENIED, storing nothing, when its Hello claims another agent's id", async () => {
    const certs = await pki.issueAgent("go-3");
    const running = await runController();
    const agent = run("go-3", certs, ["--agent-id", "someone-else"]);
    const exit = await agent.exited;
    forget(agent);
    expect(exit.code).to.equal(1);
    expect(agent.stderr()).to.match(/refused by the controller: PERMISSION_DENIED: .*someone-else/);
    expect(agent.named("stream_ended", { code: "PERMISSION_DENIED", retry: false })).to.have.length(1);
    expect(agent.named("welcome")).to.have.length(0);
    expect((await running.store.listAgents()).map((a) => a.agentId)).to.not.include("someone-else");
    expect((await running.store.listAgents()).map((a) => a.agentId)).to.not.include("go-3");
  });

  it("keeps retrying with growing, capped waits when the TLS handshake refuses its certificate (another CA), and stops cleanly on SIGTERM", async () => {
    const running = await runController();
    const foreign = await pki.foreign.issueAgent("go-6");
    const agent = run("go-6", foreign, ["--backoff-max", "2s"]);
    const deadline = Date.now() + 30_000;
    while (agent.named("stream_ended").length < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const ends = agent.named("stream_ended").slice(0, 5);
    expect(ends, "five failed attempts").to.have.length(5);
    expect(ends.every((e) => e.code === "UNAVAILABLE" && e.retry === true)).to.equal(true);
    // Each wait is drawn from [w/2, w] with w = 0.5 s doubling, capped at 2 s.
    const caps = [500, 1_000, 2_000, 2_000, 2_000];
    ends.forEach((e, i) => expect(e.retry_in_ms as number, `wait ${i + 1}`).to.be.within(caps[i]! / 2, caps[i]!));
    expect(agent.named("welcome")).to.have.length(0);
    expect((await running.store.listAgents()).map((a) => a.agentId)).to.not.include("go-6");
    forget(agent);
    const exit = await agent.stop();
    expect(exit.code).to.equal(0);
    expect(agent.named("stopped")).to.have.length(1);
  });

  it("exits 2 for missing arguments", async () => {
    const agent = startGoAgent(["--target", "127.0.0.1:1"]);
    const exit = await agent.exited;
    expect(exit.code).to.equal(2);
    expect(agent.stderr()).to.match(/--(ca|cert|key|state-dir) is required/);
  });
});
