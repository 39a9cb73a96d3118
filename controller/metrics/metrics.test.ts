import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { ActionResultSchema, ActionTargetSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { createEventBus, type EventBus } from "../domain/events.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import { sampleAlert } from "../../testing/alert-fixtures.js";
import { createControllerMetrics, type ControllerMetrics } from "./metrics.js";
import { startMetricsServer, type MetricsServer } from "./metrics-server.js";

/**
 * Every metric family, fed the way the controller feeds it: the store is
 * written first (a real SQLite file), then the event is published on the bus.
 */

const at = (ms: number) => new Date(1_700_000_000_000 + ms);

describe("controller metrics", () => {
  let dir: string;
  let store: SqliteStore;
  let events: EventBus;
  let metrics: ControllerMetrics;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-metrics-"));
    store = openSqliteStore(join(dir, "controller.db"));
    events = createEventBus((err) => {
      throw err;
    });
    metrics = createControllerMetrics({ events, store, processMetrics: false });
  });
  afterEach(async () => {
    metrics.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The value of one sample, or undefined when the family has no sample with exactly these labels. */
  async function sample(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    await metrics.settled();
    const family = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    if (!family) throw new Error(`no metric family ${name}`);
    const wanted = JSON.stringify(Object.entries(labels).sort());
    return family.values.find((v) => JSON.stringify(Object.entries(v.labels).sort()) === wanted)?.value;
  }

  /** Every sample of a family as "label=value,... value" lines, sorted. */
  async function samples(name: string): Promise<string[]> {
    await metrics.settled();
    const family = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    if (!family) throw new Error(`no metric family ${name}`);
    return family.values
      .map((v) => `${Object.entries(v.labels).sort().map(([k, l]) => `${k}=${String(l)}`).join(",")} ${v.value}`)
      .sort();
  }

  async function connect(agentId: string, ms: number): Promise<void> {
    await store.agentConnected({ agentId, version: "1.0", hostname: agentId, addresses: [], actions: [Answer.BLOCK_IP], detectors: [], at: at(ms) });
    events.publish({ type: "agent", agentId, online: true });
  }

  async function disconnect(agentId: string, ms: number): Promise<void> {
    await store.agentDisconnected(agentId, at(ms));
    events.publish({ type: "agent", agentId, online: false });
  }

  async function raise(agentId: string, alert: Alert, ms: number): Promise<void> {
    const stored = (await store.upsertAlert(agentId, alert, at(ms)));
    if (stored.outcome !== "unchanged") events.publish({ type: "alert", alertId: alert.id, agentId, outcome: stored.outcome });
  }

  async function answer(agentId: string, alertId: string, actionId: string, choice: Answer): Promise<void> {
    await store.createAction({
      actionId,
      agentId,
      alertId,
      answer: choice,
      operator: create(OperatorSchema, { telegramUserId: 77n, username: "op" }),
      requestedAt: at(10),
      options: undefined,
      target: create(ActionTargetSchema, { target: { case: "ip", value: "198.51.100.23" } }),
    });
    events.publish({ type: "action", actionId, alertId, agentId });
  }

  async function finish(agentId: string, alertId: string, actionId: string, status: ResultStatus): Promise<boolean> {
    const recorded = (await store.recordResult(agentId, create(ActionResultSchema, { actionId, status, detail: "x", finishedAt: timestampFromMs(at(20).getTime()) }), at(20)));
    // The link publishes only recorded results; a repeat must not count even if published.
    events.publish({ type: "action", actionId, alertId, agentId });
    return recorded;
  }

  it("agents: connected and known gauges from the store; connects, reconnects and disconnects counted", async () => {
    expect(await sample("secarc_agents_connected")).to.equal(0);
    expect(await sample("secarc_agents_known")).to.equal(0);
    await connect("web-1", 0);
    await connect("db-1", 1);
    expect(await sample("secarc_agents_connected")).to.equal(2);
    expect(await sample("secarc_agents_known")).to.equal(2);
    expect(await sample("secarc_agent_connects_total")).to.equal(2);
    expect(await sample("secarc_agent_reconnects_total")).to.equal(0);

    await disconnect("web-1", 2);
    expect(await sample("secarc_agents_connected")).to.equal(1);
    expect(await sample("secarc_agents_known")).to.equal(2);
    expect(await sample("secarc_agent_disconnects_total")).to.equal(1);

    await connect("web-1", 3);
    expect(await sample("secarc_agents_connected")).to.equal(2);
    expect(await sample("secarc_agent_connects_total")).to.equal(3);
    expect(await sample("secarc_agent_reconnects_total")).to.equal(1);
  });

  it("reconnects: an agent seen by an earlier controller run counts as a reconnect in a new registry", async () => {
    await connect("web-1", 0);
    await disconnect("web-1", 1);
    // A controller restart: new metrics (counters from zero) over the same store.
    metrics.close();
    metrics = createControllerMetrics({ events, store, processMetrics: false });
    expect(await sample("secarc_agent_connects_total")).to.equal(0);
    await connect("web-1", 2);
    expect(await sample("secarc_agent_connects_total")).to.equal(1);
    expect(await sample("secarc_agent_reconnects_total")).to.equal(1);
    await connect("new-1", 3);
    expect(await sample("secarc_agent_reconnects_total")).to.equal(1);
  });

  it("alerts: new alerts by kind and severity; later revisions by kind; repeats of a revision not at all", async () => {
    await connect("web-1", 0);
    const burst = sampleAlert(AlertKind.HTTP_404_BURST, { severity: Severity.WARNING, at: at(1).getTime() });
    await raise("web-1", burst, 1);
    await raise("web-1", burst, 2); // resent after a reconnect: unchanged, no event
    await raise("web-1", sampleAlert(AlertKind.SSH_SESSION, { at: at(3).getTime() }), 3);
    await raise("web-1", sampleAlert(AlertKind.SSH_SESSION, { at: at(4).getTime() }), 4);
    await raise("web-1", sampleAlert(AlertKind.CPU_SUSTAINED, { at: at(5).getTime() }), 5);
    // The burst escalates, then is resolved: two revisions of the same alert.
    await raise("web-1", sampleAlert(AlertKind.HTTP_404_BURST, { id: burst.id, revision: 2, severity: Severity.CRITICAL }), 6);
    await raise("web-1", sampleAlert(AlertKind.HTTP_404_BURST, { id: burst.id, revision: 3, severity: Severity.CRITICAL, state: AlertState.RESOLVED }), 7);

    expect(await samples("secarc_alerts_total")).to.deep.equal([
      "kind=cpu_sustained,severity=critical 1",
      "kind=http_404_burst,severity=warning 1",
      "kind=ssh_session,severity=info 2",
    ]);
    expect(await samples("secarc_alert_revisions_total")).to.deep.equal(["kind=http_404_burst 2"]);
  });

  it("alerts: an event for an alert the store does not hold is ignored; an unknown enum value gets a numeric label", async () => {
    events.publish({ type: "alert", alertId: "no-such-alert", agentId: "web-1", outcome: "inserted" });
    expect(await samples("secarc_alerts_total")).to.deep.equal([]);
    const future = sampleAlert(AlertKind.SSH_SESSION);
    future.kind = 99 as AlertKind;
    future.severity = 42 as Severity;
    await raise("web-1", future, 1);
    expect(await samples("secarc_alerts_total")).to.deep.equal(["kind=kind_99,severity=severity_42 1"]);
  });

  it("counts what another replica relayed nowhere (that replica counts it), and takes kind and severity from the event when it has them", async () => {
    await connect("web-1", 0);
    events.publish({ type: "agent", agentId: "web-2", online: true, connects: 3, relayedFrom: "replica-b" });
    events.publish({ type: "alert", alertId: "elsewhere", agentId: "web-2", outcome: "inserted", kind: AlertKind.SSH_SESSION, severity: Severity.INFO, relayedFrom: "replica-b" });
    // Not in the store: counted from the event alone.
    events.publish({ type: "alert", alertId: "not-stored", agentId: "web-1", outcome: "inserted", kind: AlertKind.CPU_SUSTAINED, severity: Severity.CRITICAL });
    events.publish({ type: "agent", agentId: "web-3", online: true, connects: 2 });
    expect(await samples("secarc_alerts_total")).to.deep.equal(["kind=cpu_sustained,severity=critical 1"]);
    expect(await sample("secarc_agent_connects_total")).to.equal(2);
    expect(await sample("secarc_agent_reconnects_total")).to.equal(1);
  });

  it("actions: counted once when their result is stored, by answer and result; pending ones not at all", async () => {
    await connect("web-1", 0);
    // One answer per alert (the store keeps the first): three alerts, three actions.
    const burst = sampleAlert(AlertKind.HTTP_404_BURST);
    const second = sampleAlert(AlertKind.HTTP_404_BURST, { at: at(2).getTime() });
    const third = sampleAlert(AlertKind.HTTP_404_BURST, { at: at(3).getTime() });
    for (const [i, alert] of [burst, second, third].entries()) await raise("web-1", alert, 1 + i);
    await answer("web-1", burst.id, "act-block", Answer.BLOCK_IP);
    await answer("web-1", second.id, "act-ignore", Answer.IGNORE);
    await answer("web-1", third.id, "act-refused", Answer.BLOCK_IP);
    expect(await samples("secarc_actions_total")).to.deep.equal([]);

    expect(await finish("web-1", burst.id, "act-block", ResultStatus.DONE)).to.equal(true);
    expect(await finish("web-1", burst.id, "act-block", ResultStatus.FAILED)).to.equal(false);
    expect(await finish("web-1", second.id, "act-ignore", ResultStatus.DONE)).to.equal(true);
    expect(await finish("web-1", third.id, "act-refused", ResultStatus.REFUSED)).to.equal(true);
    // A later event about a finished action (e.g. its message re-rendered) changes nothing.
    events.publish({ type: "action", actionId: "act-block", alertId: burst.id, agentId: "web-1" });
    events.publish({ type: "action", actionId: "no-such-action", alertId: burst.id, agentId: "web-1" });

    expect(await samples("secarc_actions_total")).to.deep.equal([
      "answer=block_ip,result=done 1",
      "answer=block_ip,result=refused 1",
      "answer=ignore,result=done 1",
    ]);
  });

  it("telegram: the queue depth gauge and the 429 counter follow the bridge's hooks", async () => {
    expect(await sample("secarc_telegram_queue_depth")).to.equal(0);
    expect(await sample("secarc_telegram_rate_limited_total")).to.equal(0);
    metrics.setTelegramQueueDepth(17);
    metrics.countTelegramRateLimited();
    metrics.countTelegramRateLimited();
    expect(await sample("secarc_telegram_queue_depth")).to.equal(17);
    expect(await sample("secarc_telegram_rate_limited_total")).to.equal(2);
    metrics.setTelegramQueueDepth(0);
    expect(await sample("secarc_telegram_queue_depth")).to.equal(0);
  });

  it("telegram: failing and seconds since the last success read the bridge's send health, with the injected clock", async () => {
    let clock = 1_000_000;
    metrics.close();
    metrics = createControllerMetrics({ events, store, processMetrics: false, now: () => clock });
    // Before the bridge reports: not failing, no age.
    expect(await sample("secarc_telegram_failing")).to.equal(0);
    expect(await sample("secarc_telegram_seconds_since_last_success")).to.equal(0);
    let view: { failing: boolean; lastSuccessAt: number | undefined; watchingSince: number } = { failing: false, lastSuccessAt: undefined, watchingSince: clock };
    metrics.watchTelegramSends(() => view);
    clock += 12_000;
    expect(await sample("secarc_telegram_seconds_since_last_success")).to.equal(12);
    view = { failing: true, lastSuccessAt: clock - 90_000, watchingSince: 0 };
    expect(await sample("secarc_telegram_failing")).to.equal(1);
    expect(await sample("secarc_telegram_seconds_since_last_success")).to.equal(90);
    view = { failing: false, lastSuccessAt: clock, watchingSince: 0 };
    expect(await sample("secarc_telegram_failing")).to.equal(0);
    expect(await sample("secarc_telegram_seconds_since_last_success")).to.equal(0);
  });

  it("link admission: connections opening, the opening limit and connections refused, read from the link", async () => {
    // Without a link (the metrics' own tests), no such family.
    expect(await sample("secarc_link_opening_limit").then(() => "present", () => "absent")).to.equal("absent");
    metrics.close();
    let stats = { opening: 0, refused: 0, limit: 100 };
    metrics = createControllerMetrics({ events, store, processMetrics: false, linkAdmission: () => stats });
    expect(await sample("secarc_link_connections_opening")).to.equal(0);
    expect(await sample("secarc_link_opening_limit")).to.equal(100);
    expect(await sample("secarc_link_connections_refused_total")).to.equal(0);
    stats = { opening: 37, refused: 412, limit: 150 };
    expect(await sample("secarc_link_connections_opening")).to.equal(37);
    expect(await sample("secarc_link_opening_limit")).to.equal(150);
    expect(await sample("secarc_link_connections_refused_total")).to.equal(412);
    stats = { opening: 0, refused: 415, limit: 32 };
    expect(await sample("secarc_link_connections_refused_total")).to.equal(415);
  });

  it("link TLS handshakes: full and resumed, read from the link", async () => {
    expect(await sample("secarc_link_tls_handshakes_total").then(() => "present", () => "absent")).to.equal("absent");
    metrics.close();
    let stats = { full: 0, resumed: 0 };
    metrics = createControllerMetrics({ events, store, processMetrics: false, linkHandshakes: () => stats });
    expect(await sample("secarc_link_tls_handshakes_total", { resumed: "false" })).to.equal(0);
    expect(await sample("secarc_link_tls_handshakes_total", { resumed: "true" })).to.equal(0);
    stats = { full: 1_000, resumed: 9_000 };
    expect(await sample("secarc_link_tls_handshakes_total", { resumed: "false" })).to.equal(1_000);
    expect(await sample("secarc_link_tls_handshakes_total", { resumed: "true" })).to.equal(9_000);
  });

  it("close(): later events change no counter", async () => {
    metrics.close();
    await connect("web-1", 0);
    await raise("web-1", sampleAlert(AlertKind.SSH_SESSION), 1);
    expect(await sample("secarc_agent_connects_total")).to.equal(0);
    expect(await samples("secarc_alerts_total")).to.deep.equal([]);
    // The gauges read the store, so they still tell the truth.
    expect(await sample("secarc_agents_connected")).to.equal(1);
  });

  it("process metrics: on by default with the controller's prefix, off on request", async () => {
    const names = async (m: ControllerMetrics) => (await m.registry.getMetricsAsJSON()).map((f) => f.name);
    expect(await names(metrics)).to.not.include("secarc_controller_process_cpu_user_seconds_total");
    const withProcess = createControllerMetrics({ events, store });
    try {
      const all = await names(withProcess);
      expect(all).to.include("secarc_controller_process_cpu_user_seconds_total");
      expect(all).to.include("secarc_controller_nodejs_eventloop_lag_seconds");
      expect(all).to.include("secarc_alerts_total");
    } finally {
      withProcess.close();
    }
  });

  describe("metrics server", () => {
    let server: MetricsServer;
    beforeEach(async () => {
      server = await startMetricsServer({ registry: metrics.registry, port: 0 });
    });
    afterEach(() => server.close());

    const get = (path: string, method = "GET") => fetch(`http://127.0.0.1:${server.port}${path}`, { method });

    it("serves GET /metrics in the Prometheus text format with every family", async () => {
      await connect("web-1", 0);
      await raise("web-1", sampleAlert(AlertKind.SSH_SESSION), 1);
      const res = await get("/metrics");
      expect(res.status).to.equal(200);
      expect(res.headers.get("content-type")).to.match(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      for (const family of [
        "secarc_agents_connected",
        "secarc_agents_known",
        "secarc_agent_connects_total",
        "secarc_agent_reconnects_total",
        "secarc_agent_disconnects_total",
        "secarc_alerts_total",
        "secarc_alert_revisions_total",
        "secarc_actions_total",
        "secarc_telegram_queue_depth",
        "secarc_telegram_rate_limited_total",
        "secarc_telegram_failing",
        "secarc_telegram_seconds_since_last_success",
      ]) {
        expect(text).to.include(`# TYPE ${family} `);
      }
      expect(text).to.include("secarc_agents_connected 1\n");
      expect(text).to.include('secarc_alerts_total{kind="ssh_session",severity="info"} 1\n');
    });

    it("answers /healthz, 404 for other paths and 405 for other methods", async () => {
      const health = await get("/healthz");
      expect([health.status, await health.text()]).to.deep.equal([200, "ok\n"]);
      const missing = await get("/nope");
      expect([missing.status, await missing.text()]).to.deep.equal([404, "not found: try /metrics\n"]);
      const post = await get("/metrics", "POST");
      expect([post.status, post.headers.get("allow")]).to.deep.equal([405, "GET"]);
    });

    it("a port already in use is an error at start", async () => {
      let error: unknown;
      try {
        await startMetricsServer({ registry: metrics.registry, port: server.port });
      } catch (err) {
        error = err;
      }
      expect((error as NodeJS.ErrnoException | undefined)?.code).to.equal("EADDRINUSE");
    });
  });
});
