import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { AlertKind, AlertState, DetectorSourceKind, DetectorSourceState } from "../../gen/secarc/v1/alert_pb.js";
import { openSqliteStore } from "../store/sqlite-store.js";
import type { DetectorSourceRecord } from "../store/store.js";
import { decideBlind, describeSource, startDetectorBlindWatch, type BlindAgent, type BlindInput } from "./detector-blind.js";
import { createEventBus } from "./events.js";

const T0 = Date.UTC(2026, 11, 1, 10, 0, 0);
const MIN = 60_000;
const AFTER = 10 * MIN;

const source = (fields: Partial<DetectorSourceRecord> = {}): DetectorSourceRecord => ({
  detector: "ssh-brute-force",
  kind: DetectorSourceKind.FILE,
  state: DetectorSourceState.NO_SOURCE,
  detail: "no auth log and no sshd in journald",
  since: T0,
  ...fields,
});
const agent = (sources: DetectorSourceRecord[], fields: Partial<BlindAgent> = {}): BlindAgent => ({ agentId: "web-1", online: true, revoked: false, sources, ...fields });
const decide = (fields: Partial<BlindInput>) => decideBlind({ agents: [], open: [], now: T0, afterMs: AFTER, watchingSince: T0 - 60 * MIN, ...fields });

describe("detector blind: the decision", () => {
  it("raises for a detector without a source for blindAlertAfter, not before, once", () => {
    const blind = source();
    expect(decide({ agents: [agent([blind])], now: T0 + AFTER - 1 })).to.deep.equal([]);
    expect(decide({ agents: [agent([blind])], now: T0 + AFTER })).to.deep.equal([{ type: "raise", agentId: "web-1", source: blind, blindSince: T0 }]);
    expect(decide({ agents: [agent([blind])], open: [{ alertId: "a1", agentId: "web-1", detector: "ssh-brute-force" }], now: T0 + 2 * AFTER })).to.deep.equal([]);
  });

  it("waiting and unreadable are blind too; following is not", () => {
    const now = T0 + AFTER;
    for (const state of [DetectorSourceState.WAITING, DetectorSourceState.UNREADABLE]) {
      expect(decide({ agents: [agent([source({ state })])], now })).to.have.length(1);
    }
    expect(decide({ agents: [agent([source({ state: DetectorSourceState.FOLLOWING })])], now })).to.deep.equal([]);
  });

  it("nothing for offline or revoked agents (their reports are stale)", () => {
    const now = T0 + 2 * AFTER;
    expect(decide({ agents: [agent([source()], { online: false })], now })).to.deep.equal([]);
    expect(decide({ agents: [agent([source()], { revoked: true })], now })).to.deep.equal([]);
    expect(decide({ agents: [agent([source({ state: DetectorSourceState.FOLLOWING })], { online: false })], open: [{ alertId: "a1", agentId: "web-1", detector: "ssh-brute-force" }], now })).to.deep.equal([]);
  });

  it("resolves when the detector follows again (at its report's time) or no longer runs", () => {
    const open = [{ alertId: "a1", agentId: "web-1", detector: "ssh-brute-force" }];
    const found = source({ state: DetectorSourceState.FOLLOWING, detail: "/var/log/auth.log", since: T0 + 30 * MIN });
    expect(decide({ agents: [agent([found])], open, now: T0 + 31 * MIN })).to.deep.equal([{ type: "resolve", alertId: "a1", agentId: "web-1", found, foundAt: T0 + 30 * MIN }]);
    const other = source({ detector: "nginx-404", state: DetectorSourceState.FOLLOWING });
    expect(decide({ agents: [agent([other])], open, now: T0 + 31 * MIN })).to.deep.equal([{ type: "resolve", alertId: "a1", agentId: "web-1", found: undefined, foundAt: T0 + 31 * MIN }]);
  });

  it("counts blindness from the controller's start at the earliest", () => {
    const blind = source({ since: T0 - 60 * MIN });
    expect(decide({ agents: [agent([blind])], watchingSince: T0, now: T0 + AFTER - 1 })).to.deep.equal([]);
    expect(decide({ agents: [agent([blind])], watchingSince: T0, now: T0 + AFTER })).to.have.length(1);
  });

  it("describes sources as operators read them", () => {
    expect(describeSource(source({ state: DetectorSourceState.FOLLOWING, detail: "/var/log/auth.log" }))).to.equal("following /var/log/auth.log");
    expect(describeSource(source())).to.equal("no source: no auth log and no sshd in journald");
    expect(describeSource(source({ state: DetectorSourceState.UNREADABLE, detail: "/var/log/auth.log: EACCES" }))).to.equal("unreadable: /var/log/auth.log: EACCES");
  });
});

describe("detector blind: the watch over the store", () => {
  it("raises one alert, and resolves that same alert (revision 2) when the source appears", async () => {
    const dir = mkdtempSync(join(tmpdir(), "secarc-blind-"));
    const store = openSqliteStore(join(dir, "c.db"));
    try {
      let now = T0;
      await store.agentConnected({ agentId: "web-1", version: "1", hostname: "h", addresses: [], actions: [], detectors: [], at: new Date(T0) });
      await store.setDetectorSources("web-1", [source()]);
      const events = createEventBus();
      const seen: string[] = [];
      events.subscribe((event) => event.type === "alert" && seen.push(`${event.outcome} ${event.alertId}`));
      const watch = startDetectorBlindWatch({ store, events, logger: silentLogger(), now: () => now, afterMs: AFTER, checkEveryMs: 3_600_000 });
      try {
        now = T0 + AFTER - 1;
        await watch.check();
        expect((await store.listOpenAlertsOfKind(AlertKind.DETECTOR_BLIND))).to.have.length(0);
        now = T0 + AFTER;
        await watch.check();
        await watch.check();
        const open = (await store.listOpenAlertsOfKind(AlertKind.DETECTOR_BLIND));
        expect(open).to.have.length(1);
        const id = open[0]!.alertId;
        await store.setDetectorSources("web-1", [source({ state: DetectorSourceState.FOLLOWING, detail: "/var/log/auth.log", since: now + 1000 })]);
        now += 2000;
        await watch.check();
        const record = (await store.getAlert(id))!;
        expect(record.alert.revision).to.equal(2);
        expect(record.alert.state).to.equal(AlertState.RESOLVED);
        expect(record.alert.subject.case === "detectorBlind" && record.alert.subject.value.sourceFound).to.equal("following /var/log/auth.log");
        expect(seen).to.deep.equal([`inserted ${id}`, `updated ${id}`]);
      } finally {
        watch.stop();
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
