import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { buildStatusReport } from "../controller/admin/status-report.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { formatStatus } from "./status-command.js";

describe("secarc status output", () => {
  it("prints each agent's host under it, and no host line for an agent that sent none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "secarc-status-cli-"));
    const store = openSqliteStore(join(dir, "c.db"));
    try {
      const now = Date.parse("2026-12-01T12:00:00Z");
      const host = { osName: "Debian GNU/Linux", osVersion: "12 (bookworm)", kernel: "6.1.0-18-amd64", architecture: "x64", bootedAt: new Date(now - 26 * 3_600_000), memoryTotalBytes: 512 * 1024 ** 2, cpuModel: "AMD EPYC", cpuCores: 4, cpuPhysicalCores: 2, machine: "" };
      await store.agentConnected({ agentId: "web-1", version: "1", hostname: "h1", addresses: [], actions: [], detectors: [], at: new Date(now), hostFacts: host });
      await store.agentConnected({ agentId: "web-2", version: "1", hostname: "h2", addresses: [], actions: [], detectors: [], at: new Date(now) });
      const report = await buildStatusReport({ store, onlineAgents: ["web-1", "web-2"], telegram: undefined, telegramConfigured: false, storePath: join(dir, "c.db"), storeHealth: { state: "ok", dir, freeBytes: undefined, totalBytes: undefined, detail: "", since: 0 }, startedAt: now, now });
      const lines = formatStatus(report).split("\n");
      const after = (agent: string) => lines[lines.findIndex((l) => l.startsWith(`  ${agent} `)) + 1] ?? "";
      expect(after("web-1")).to.equal("      host: Debian GNU/Linux 12 (bookworm) · kernel 6.1.0-18-amd64 x64 · AMD EPYC ×4 (2 cores) · 512 MiB · up 1 d 2 h");
      expect(after("web-2")).to.not.include("host:");
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
