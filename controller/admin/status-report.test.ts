import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import type { StoreHealthView } from "../store/store-health.js";
import { buildStatusReport } from "./status-report.js";

const healthy: StoreHealthView = { state: "ok", dir: "/d", freeBytes: 10 * 1_048_576 * 1024, totalBytes: undefined, detail: "", since: 0 };

describe("secarc status report", () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-status-"));
    store = openSqliteStore(join(dir, "c.db"));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const report = (online: string[], telegramConfigured: boolean, storeHealth = healthy) =>
    buildStatusReport({ store, onlineAgents: online, telegram: undefined, telegramConfigured, storePath: join(dir, "c.db"), storeHealth, startedAt: 1_000, now: 61_000 });

  it("is OK with every agent online and no Telegram configured", async () => {
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "h1", addresses: [], actions: [Answer.ALLOW], detectors: [], at: new Date(), unavailableAnswers: [{ answer: Answer.BLOCK_IP, reason: "no CAP_NET_ADMIN" }] });
    const r = await report(["web-1"], false);
    expect(r.ok).to.equal(true);
    expect(r.problems).to.deep.equal([]);
    expect(r.controller.uptimeSeconds).to.equal(60);
    expect(r.agents[0]).to.deep.include({ agentId: "web-1", online: true, answers: ["ALLOW"], unavailableAnswers: [{ answer: "BLOCK_IP", reason: "no CAP_NET_ADMIN" }] });
    expect(r.telegram.state).to.equal("not_configured");
  });

  it("shows each agent's host as its last Hello described it, the uptime counted to the report's time", async () => {
    const host = { osName: "Debian GNU/Linux", osVersion: "12 (bookworm)", kernel: "6.1.0-18-amd64", architecture: "x64", bootedAt: new Date(61_000 - 3 * 3_600_000), memoryTotalBytes: 8 * 1024 ** 3, cpuModel: "AMD EPYC", cpuCores: 2, cpuPhysicalCores: 2, machine: "KVM" };
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "h1", addresses: [], actions: [], detectors: [], at: new Date(), hostFacts: host });
    await store.agentConnected({ agentId: "web-2", version: "1", hostname: "h2", addresses: [], actions: [], detectors: [], at: new Date() });
    const r = await report(["web-1", "web-2"], false);
    expect(r.agents[0]!.host).to.deep.include({ kernel: "6.1.0-18-amd64", bootedAt: new Date(61_000 - 3 * 3_600_000).toISOString(), summary: "Debian GNU/Linux 12 (bookworm) · kernel 6.1.0-18-amd64 x64 · AMD EPYC ×2 · 8.0 GiB · up 3 h 0 min · KVM" });
    expect(r.agents[1]!.host).to.equal(undefined);
  });

  it("a replica whose Telegram bridge waits while another replica holds the Telegram lease is on standby, not a problem", async () => {
    const r = await buildStatusReport({ store, onlineAgents: [], telegram: undefined, telegramConfigured: true, telegramElsewhere: true, storePath: join(dir, "c.db"), storeHealth: healthy, startedAt: 1_000, now: 61_000 });
    expect(r.telegram).to.deep.include({ configured: true, state: "standby" });
    expect(r.telegram.detail).to.match(/another replica holds the Telegram lease/);
    expect(r.problems).to.deep.equal([]);
    expect(r.ok).to.equal(true);
  });

  it("lists each problem: an agent offline, an agent's clock off, Telegram configured but not running, the store failing", async () => {
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "h1", addresses: [], actions: [], detectors: [], at: new Date() });
    await store.agentConnected({ agentId: "web-2", version: "1", hostname: "h2", addresses: [], actions: [], detectors: [], at: new Date() });
    await store.setClockSkew("web-2", 300_000);
    const r = await report(["web-2"], true, { ...healthy, state: "failing", detail: "store full: 3 MiB free on /d (SQLITE_FULL)" });
    expect(r.ok).to.equal(false);
    expect(r.problems).to.deep.equal([
      "store: store full: 3 MiB free on /d (SQLITE_FULL)",
      `agent web-1: offline since ${r.agents[0]!.lastSeen}`,
      "agent web-2: clock +5m 0s off the controller's (check NTP on its host)",
      "telegram: the bridge is not running",
    ]);
    expect(r.store).to.deep.include({ ok: false, state: "failing" });
    expect(r.agents[1]!.clockSkewMs).to.equal(300_000);
  });
});
