import { expect } from "chai";
import type { FleetStatus } from "../domain/fleet-blocks.js";
import { fleetSummaryText } from "./fleet-summary.js";
import { translationsFor } from "./i18n/translations.js";

const block = { fleetId: "f1", ip: "203.0.113.7", requestedBy: "telegram:1 (@op)", requestedAt: 1_800_000_000_000 };
const member = (hostname: string, state: FleetStatus["members"][number]): FleetStatus["members"][number] => ({ ...state, agentId: hostname, hostname });

describe("fleetSummaryText", () => {
  const status: FleetStatus = {
    block,
    members: [
      member("web-1", { state: "blocked", agentId: "", hostname: "" }),
      member("web-2", { state: "blocked", agentId: "", hostname: "" }),
      member("db-1", { state: "queued", agentId: "", hostname: "" }),
      member("web-3", { state: "refused", detail: "allowed until 14:00", agentId: "", hostname: "" }),
      member("cache-1", { state: "skipped", detail: "opted_out", agentId: "", hostname: "" }),
    ],
  };

  it("counts the servers blocked of those sent the block and names every other one with its state (en, es)", () => {
    expect(fleetSummaryText(status, translationsFor("en"))).to.equal("🌐 203.0.113.7 blocked on 2 of 4 servers · db-1 queued (offline) · web-3 refused (allowed until 14:00) · cache-1 opted out");
    expect(fleetSummaryText(status, translationsFor("es"))).to.equal("🌐 203.0.113.7 bloqueada en 2 de 4 servidores · db-1 en cola (sin conexión) · web-3 rechazado (allowed until 14:00) · cache-1 no participa");
  });

  it("counts the unblocked servers once lifted", () => {
    const lifted: FleetStatus = { block: { ...block, liftedAt: 1_800_000_100_000 }, members: [member("web-1", { state: "lifted", agentId: "", hostname: "" }), member("db-1", { state: "lifting", agentId: "", hostname: "" })] };
    expect(fleetSummaryText(lifted, translationsFor("en"))).to.equal("🌐 203.0.113.7 unblocked on 1 of 2 servers · db-1 unblock queued");
  });

  it("shows agents' names and reasons escaped, without bidi or control characters, and cut", () => {
    const hostile: FleetStatus = {
      block,
      members: [member("<b>web\u202E1", { state: "refused", detail: `a&b\u0000${"x".repeat(500)}`, agentId: "", hostname: "" })],
    };
    const text = fleetSummaryText(hostile, translationsFor("en"));
    expect(text).to.match(/^🌐 203\.0\.113\.7 blocked on 0 of 1 servers · &lt;b&gt;web1 refused \(a&amp;b x+…\)$/);
    expect(text.length).to.be.below(160);
  });
});
