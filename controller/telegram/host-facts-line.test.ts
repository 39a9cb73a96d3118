import { expect } from "chai";
import type { HostFactsRecord } from "../host/host-facts.js";
import { renderStatus } from "./command-views.js";
import { translations } from "./i18n/translations.js";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const HOST: HostFactsRecord = {
  osName: "Debian GNU/Linux",
  osVersion: "12 (bookworm)",
  kernel: "6.1.0-18-amd64",
  architecture: "x64",
  bootedAt: new Date(NOW - (3 * 24 + 4) * 3_600_000),
  memoryTotalBytes: 4 * 1024 ** 3,
  cpuModel: "Intel <Xeon> & co",
  cpuCores: 2,
  cpuPhysicalCores: 2,
  machine: "",
};
const agent = (hostFacts?: HostFactsRecord) => ({ agentId: "web-1", online: true, revokedAt: undefined, lastSeen: new Date(NOW), detectorSources: [], unavailableAnswers: [], hostFacts });

describe("/status host line", () => {
  it("shows the host under its server, the uptime counted to now, agent text escaped", () => {
    const status = renderStatus([agent(HOST)], undefined, translations.en, NOW);
    expect(status.split("\n")[2]).to.equal("    🖥 Debian GNU/Linux 12 (bookworm) · kernel 6.1.0-18-amd64 x64 · Intel &lt;Xeon&gt; &amp; co ×2 · 4.0 GiB · up 3 d 4 h");
    expect(renderStatus([agent(HOST)], undefined, translations.es, NOW)).to.include("· activo desde hace 3 d 4 h");
  });

  it("no line for an agent that sent no host facts", () => {
    expect(renderStatus([agent()], undefined, translations.en, NOW)).to.not.include("🖥");
  });
});
