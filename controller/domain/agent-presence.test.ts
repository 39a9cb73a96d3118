import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { parseConfig } from "../../common/config.js";
import { isSecarcError } from "../../common/errors.js";
import { silentLogger } from "../../common/log.js";
import { AlertKind, AlertState, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { controllerConfigSchema } from "../config.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import { decidePresence, startAgentPresence, type PresenceAgent, type PresenceInput } from "./agent-presence.js";
import { createEventBus, type ControllerEvent } from "./events.js";

const T0 = Date.UTC(2026, 10, 29, 14, 0, 0);
const MIN = 60_000;
const GRACE = 2 * MIN;

const agent = (fields: Partial<PresenceAgent> & { agentId: string }): PresenceAgent => ({ online: false, lastSeen: T0, revoked: false, ...fields });
const decide = (fields: Partial<PresenceInput>) => decidePresence({ agents: [], open: [], now: T0, graceMs: GRACE, watchingSince: T0 - 60 * MIN, ...fields });

describe("agent presence: the decision", () => {
  it("raises for an agent offline for the grace period, not before, with the time it went offline", () => {
    const web1 = agent({ agentId: "web-1", lastSeen: T0 });
    expect(decide({ agents: [web1], now: T0 + GRACE - 1 })).to.deep.equal([]);
    expect(decide({ agents: [web1], now: T0 + GRACE })).to.deep.equal([{ type: "raise", agentId: "web-1", offlineSince: T0 }]);
    expect(decide({ agents: [web1], now: T0 + 60 * MIN })).to.deep.equal([{ type: "raise", agentId: "web-1", offlineSince: T0 }]);
  });

  it("raises nothing for an online agent, a revoked one, or one that already has an open alert", () => {
    const long = T0 + 60 * MIN;
    expect(decide({ agents: [agent({ agentId: "up", online: true })], now: long })).to.deep.equal([]);
    expect(decide({ agents: [agent({ agentId: "gone", revoked: true })], now: long })).to.deep.equal([]);
    expect(decide({ agents: [agent({ agentId: "web-1" })], open: [{ alertId: "a1", agentId: "web-1" }], now: long })).to.deep.equal([]);
  });

  it("after a (re)start, counts absence from the start at the earliest: agents get the grace period to reconnect", () => {
    const web1 = agent({ agentId: "web-1", lastSeen: T0 - 30 * MIN });
    expect(decide({ agents: [web1], watchingSince: T0, now: T0 + GRACE - 1 })).to.deep.equal([]);
    expect(decide({ agents: [web1], watchingSince: T0, now: T0 + GRACE })).to.deep.equal([{ type: "raise", agentId: "web-1", offlineSince: T0 - 30 * MIN }]);
  });

  it("resolves an online agent's open alerts, back since its connect (or its last-seen time)", () => {
    const open = [{ alertId: "a1", agentId: "web-1" }, { alertId: "a2", agentId: "web-2" }];
    const effects = decide({
      agents: [agent({ agentId: "web-1", online: true, connectedAt: T0 - 5_000, lastSeen: T0 - 1_000 }), agent({ agentId: "web-2", online: true, lastSeen: T0 - 2_000 })],
      open,
    });
    expect(effects).to.deep.equal([
      { type: "resolve", alertId: "a1", agentId: "web-1", backOnlineAt: T0 - 5_000 },
      { type: "resolve", alertId: "a2", agentId: "web-2", backOnlineAt: T0 - 2_000 },
    ]);
  });

  it("leaves alone open alerts of agents it no longer knows, and knows nothing of agents that never connected", () => {
    expect(decide({ open: [{ alertId: "a1", agentId: "ghost" }] })).to.deep.equal([]);
    expect(decide({ agents: [] })).to.deep.equal([]);
  });
});

describe("agent presence over a real store, with a driven clock", () => {
  let dir: string;
  let store: SqliteStore;
  let clock: number;
  const now = () => clock;
  const connect = (agentId: string) => store.agentConnected({ agentId, version: "1", hostname: agentId, addresses: [], actions: [], detectors: [], at: new Date(clock) });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-presence-"));
    store = openSqliteStore(join(dir, "controller.db"));
    clock = T0;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("raises one offline alert, resolves the same alert when the agent is back, and a restart neither repeats nor forgets it", async () => {
    const events = createEventBus((err) => {
      throw err;
    });
    const seen: ControllerEvent[] = [];
    events.subscribe((event) => seen.push(event));
    await connect("web-1");
    await connect("web-2");
    let presence = startAgentPresence({ store, events, logger: silentLogger(), now, graceMs: GRACE, checkEveryMs: 60_000 });
    try {
      clock += MIN;
      await store.agentDisconnected("web-1", new Date(clock));
      const wentAt = clock;
      clock += GRACE - 1;
      await presence.check();
      expect((await store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE))).to.deep.equal([]);

      clock += 1;
      await presence.check();
      await presence.check();
      const [open, ...more] = (await store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE));
      expect(more).to.deep.equal([]);
      expect(open!.agentId).to.equal("web-1");
      expect(open!.alert).to.deep.include({ kind: AlertKind.AGENT_OFFLINE, severity: Severity.WARNING, state: AlertState.OPEN, revision: 1, answers: [] });
      expect(open!.alert.subject.case).to.equal("agentOffline");
      const subject = open!.alert.subject.value as { agentId: string; offlineSince?: Parameters<typeof timestampMs>[0]; backOnlineAt?: unknown };
      expect(subject.agentId).to.equal("web-1");
      expect(timestampMs(subject.offlineSince!)).to.equal(wentAt);
      expect(subject.backOnlineAt).to.equal(undefined);
      expect(seen.filter((e) => e.type === "alert")).to.deep.equal([{ type: "alert", alertId: open!.alertId, agentId: "web-1", outcome: "inserted" }]);

      // A restart while web-1 is still away: the open alert is found, nothing new.
      presence.stop();
      clock += 10 * MIN;
      presence = startAgentPresence({ store, events, logger: silentLogger(), now, graceMs: GRACE, checkEveryMs: 60_000 });
      clock += 3 * GRACE;
      await presence.check();
      expect((await store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE)).map((r) => r.alertId)).to.deep.equal([open!.alertId]);

      // Back: the same alert, revision 2, resolved with the connect time.
      await connect("web-1");
      const backAt = clock;
      events.publish({ type: "agent", agentId: "web-1", online: true });
      clock += 3_000;
      await new Promise((resolve) => setImmediate(resolve));
      expect((await store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE))).to.deep.equal([]);
      const resolved = (await store.getAlert(open!.alertId))!;
      expect(resolved.alert).to.deep.include({ revision: 2, state: AlertState.RESOLVED });
      const back = resolved.alert.subject.case === "agentOffline" ? resolved.alert.subject.value : undefined;
      expect(timestampMs(back!.backOnlineAt!)).to.equal(backAt);
      expect(timestampMs(back!.offlineSince!)).to.equal(wentAt);
      expect(seen.filter((e) => e.type === "alert").map((e) => e.type === "alert" && e.outcome)).to.deep.equal(["inserted", "updated"]);
      // web-2 was never offline: no alert.
      expect((await store.listOpenAlerts(100)).filter((r) => r.agentId === "web-2")).to.deep.equal([]);
    } finally {
      presence.stop();
    }
  });

  it("does not alert for an agent whose certificate is revoked", async () => {
    const events = createEventBus();
    await connect("web-1");
    await store.agentDisconnected("web-1", new Date(clock));
    const serial = "ab01";
    store.db.prepare("UPDATE agents SET cert_serial = ? WHERE agent_id = 'web-1'").run(serial);
    expect((await store.setRevokedSerials([serial], new Date(clock)))).to.deep.equal(["web-1"]);
    const presence = startAgentPresence({ store, events, logger: silentLogger(), now, graceMs: GRACE, checkEveryMs: 60_000 });
    try {
      clock += 10 * GRACE;
      await presence.check();
      expect((await store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE))).to.deep.equal([]);
    } finally {
      presence.stop();
    }
  });
});

describe("agent presence: link.offlineAlertAfter", () => {
  const tls = { ca: "/etc/secarc/ca.pem", cert: "/etc/secarc/controller.pem", key: "/etc/secarc/controller-key.pem" };
  it("defaults to 2 minutes, takes a duration, and refuses one below 1 s or above 30 d, naming the key", () => {
    expect(parseConfig(controllerConfigSchema, { tls }, "test").link.offlineAlertAfter).to.equal(120_000);
    expect(parseConfig(controllerConfigSchema, { tls, link: { offlineAlertAfter: "5m" } }, "test").link.offlineAlertAfter).to.equal(300_000);
    for (const bad of ["500ms", "31d", "soon"]) {
      let caught: unknown;
      try {
        parseConfig(controllerConfigSchema, { tls, link: { offlineAlertAfter: bad } }, "test");
      } catch (err) {
        caught = err;
      }
      expect(isSecarcError(caught, "config_invalid"), bad).to.equal(true);
      expect((caught as Error).message, bad).to.include("link.offlineAlertAfter");
    }
  });
});
