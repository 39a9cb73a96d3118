import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { createLogger } from "../common/log.js";
import { alertSubjectAddress, createAlertMute, muteFor } from "./alert-mute.js";
import { createMuteStore, type MuteStore } from "./responders/mute-store.js";

const T0 = Date.parse("2026-11-29T14:00:00Z");
const HOUR = 3_600_000;

function http404(ip: string, detectedAt: number, fields: Partial<Pick<Alert, "id" | "revision" | "severity" | "state">> = {}): Alert {
  return create(AlertSchema, {
    id: fields.id ?? `a-${ip}-${detectedAt}`,
    revision: fields.revision ?? 1,
    kind: AlertKind.HTTP_404_BURST,
    severity: fields.severity ?? Severity.WARNING,
    state: fields.state ?? AlertState.OPEN,
    detectedAt: timestampFromMs(detectedAt),
    updatedAt: timestampFromMs(detectedAt),
    subject: { case: "httpErrors", value: { clientIp: ip, status: 404, count: 20 } },
  });
}

describe("alert mute: the agent's one check before the outbox", () => {
  let dir: string;
  let mutes: MuteStore;
  let now = T0;
  let lines: string[];
  const logger = () =>
    createLogger({ level: "debug", format: "json", name: "agent", destination: { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-alert-mute-"));
    now = T0;
    lines = [];
    mutes = createMuteStore(dir, () => now);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const allow = (ip: string, until: number | null, since = T0) => mutes.mute({ scope: "ip", key: ip, until, actionId: `allow-${ip}`, since, decision: "allow", by: "@op" });

  it("names the address of SSH logins, brute force and HTTP bursts, canonically; none for CPU", () => {
    const ssh = create(AlertSchema, { kind: AlertKind.SSH_SESSION, subject: { case: "sshSession", value: { user: "alice", sourceIp: "::ffff:203.0.113.7" } } });
    const brute = create(AlertSchema, { kind: AlertKind.SSH_BRUTE_FORCE, subject: { case: "sshFailures", value: { sourceIp: "2001:db8:0::7" } } });
    const cpu = create(AlertSchema, { kind: AlertKind.CPU_SUSTAINED, subject: { case: "cpu", value: { percent: 99 } } });
    expect([ssh, brute, http404("198.51.100.23", T0), cpu].map(alertSubjectAddress)).to.deep.equal(["203.0.113.7", "2001:db8::7", "198.51.100.23", undefined]);
  });

  it("mutes a new alert about an allowed address until the allow ends, then lets the next one through", () => {
    allow("198.51.100.23", T0 + HOUR);
    const mute = createAlertMute({ mutes, now: () => now, logger: logger() });
    now = T0 + 10 * 60_000;
    expect(mute.muted(http404("198.51.100.23", now))).to.equal(true);
    expect(mute.muted(http404("198.51.100.24", now))).to.equal(false);
    now = T0 + HOUR - 1;
    expect(mute.muted(http404("198.51.100.23", now))).to.equal(true);
    now = T0 + HOUR;
    expect(mute.muted(http404("198.51.100.23", now))).to.equal(false);
    expect(mute.counts()).to.deep.equal({ HTTP_404_BURST: 2 });
  });

  it("a muted alert that escalates stays muted while the allow lasts; its next open revision after the end goes out", () => {
    allow("198.51.100.23", T0 + HOUR);
    const mute = createAlertMute({ mutes, now: () => now, logger: logger() });
    const detected = T0 + 60_000;
    now = detected;
    expect(mute.muted(http404("198.51.100.23", detected, { id: "burst" }))).to.equal(true);
    now = detected + 30_000;
    expect(mute.muted(http404("198.51.100.23", detected, { id: "burst", revision: 2, severity: Severity.CRITICAL }))).to.equal(true);
    now = T0 + HOUR + 1;
    expect(mute.muted(http404("198.51.100.23", detected, { id: "burst", revision: 3, severity: Severity.CRITICAL }))).to.equal(false);
    // Shown now: its resolution goes out too.
    expect(mute.muted(http404("198.51.100.23", detected, { id: "burst", revision: 4, state: AlertState.RESOLVED }))).to.equal(false);
  });

  it("the lone resolution of a muted alert after the allow ended is muted too: nothing was shown", () => {
    allow("198.51.100.23", T0 + HOUR);
    const mute = createAlertMute({ mutes, now: () => now, logger: logger() });
    now = T0 + 60_000;
    expect(mute.muted(http404("198.51.100.23", now, { id: "quiet" }))).to.equal(true);
    now = T0 + 2 * HOUR;
    expect(mute.muted(http404("198.51.100.23", T0 + 60_000, { id: "quiet", revision: 2, state: AlertState.RESOLVED }))).to.equal(true);
    // A resolution of an alert that was shown is never held back.
    expect(mute.muted(http404("198.51.100.23", T0 + 60_000, { id: "shown", revision: 2, state: AlertState.RESOLVED }))).to.equal(false);
    expect(mute.counts()).to.deep.equal({ HTTP_404_BURST: 2 });
  });

  it("never mutes a later revision of an alert that was shown: the answered alert's escalation and resolution still reach its message", () => {
    const mute = createAlertMute({ mutes, now: () => now, logger: logger() });
    now = T0 - 30_000;
    expect(mute.muted(http404("198.51.100.23", now, { id: "shown" }))).to.equal(false);
    allow("198.51.100.23", T0 + HOUR, T0);
    now = T0 + 5_000;
    expect(mute.muted(http404("198.51.100.23", T0 - 30_000, { id: "shown", revision: 2, severity: Severity.CRITICAL }))).to.equal(false);
    expect(mute.muted(http404("198.51.100.23", T0 - 30_000, { id: "shown", revision: 3, state: AlertState.RESOLVED }))).to.equal(false);
    // Detection times come from logs: a new alert is muted whatever time it carries.
    expect(mute.muted(http404("198.51.100.23", T0 - 3 * HOUR, { id: "new" }))).to.equal(true);
    expect(muteFor(http404("198.51.100.23", T0), mutes, now)?.actionId).to.equal("allow-198.51.100.23");
    expect(muteFor(http404("198.51.100.24", T0), mutes, now)).to.equal(undefined);
  });

  it("an allow until revoked mutes until REVOKE_ALLOW removes it; IGNORE naming an address mutes too", () => {
    allow("2001:db8::7", null);
    mutes.mute({ scope: "ip", key: "203.0.113.9", until: T0 + HOUR, actionId: "ignore-1", since: T0, decision: "ignore" });
    const mute = createAlertMute({ mutes, now: () => now, logger: logger() });
    now = T0 + 1;
    expect(mute.muted(http404("203.0.113.9", now))).to.equal(true);
    now = T0 + 365 * 86_400_000;
    expect(mute.muted(http404("203.0.113.9", now))).to.equal(false);
    expect(mute.muted(http404("2001:db8::7", now))).to.equal(true);
    mutes.remove("ip", "2001:db8::7", now);
    expect(mute.muted(http404("2001:db8::7", now))).to.equal(false);
  });

  it("logs each muted alert at debug with the decision that muted it", () => {
    allow("198.51.100.23", T0 + HOUR);
    const mute = createAlertMute({ mutes, now: () => now, logger: logger() });
    now = T0 + 1;
    mute.muted(http404("198.51.100.23", now, { id: "x1" }));
    const entry = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((l) => l.msg === "alert muted");
    expect(entry).to.deep.include({ alertId: "x1", kind: "HTTP_404_BURST", ip: "198.51.100.23", decision: "allow", actionId: "allow-198.51.100.23", mutedTotal: 1 });
  });

  it("an unreadable mutes file mutes nothing, and says so once", () => {
    writeFileSync(join(dir, "mutes.json"), "{ not json");
    const mute = createAlertMute({ mutes: createMuteStore(dir), now: () => now, logger: logger() });
    expect(mute.muted(http404("198.51.100.23", now))).to.equal(false);
    expect(mute.muted(http404("198.51.100.23", now))).to.equal(false);
    expect(lines.filter((l) => l.includes("mutes could not be read"))).to.have.length(1);
  });
});
