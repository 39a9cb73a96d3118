import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../../common/log.js";
import { respondersConfigSchema } from "./config.js";
import { createRecordingRunner } from "./program-runner.js";
import { createResponderSet, createResponders, hostAddresses } from "./registry.js";

describe("responder registry and config", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-registry-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("has a responder for every answer except UNSPECIFIED, each listing the answers it is keyed by", () => {
    const runner = createRecordingRunner();
    const set = createResponderSet(respondersConfigSchema.parse({}), { logger: silentLogger(), now: Date.now, controllerAddresses: [], stateDir: dir, runner });
    const all = Object.values(Answer).filter((v): v is Answer => typeof v === "number" && v !== Answer.UNSPECIFIED);
    expect([...set.responders.keys()].sort()).to.deep.equal(all.sort());
    for (const [answer, responder] of set.responders) expect(responder.answers).to.include(answer);
    // Building runs nothing; with no stored blocks, nothing runs at start either.
    createResponders(respondersConfigSchema.parse({}), { logger: silentLogger(), now: Date.now, controllerAddresses: [], stateDir: dir, runner });
    expect(runner.commands).to.deep.equal([]);
  });

  it("fills documented defaults and refuses unknown keys and bad allow-list entries", () => {
    expect(respondersConfigSchema.parse({})).to.deep.equal({
      dryRun: false,
      firewall: { backend: "auto", defaultBlockDuration: 86_400_000, allowlist: [], allowCidr: false, closeSessionsOnBlock: true },
      power: { delay: 60_000, method: "auto" },
      sessions: { graceMs: 2000 },
      decisions: { defaultAllowDuration: 86_400_000 },
    });
    expect(respondersConfigSchema.parse({ firewall: { defaultBlockDuration: "1h30m", allowlist: ["10.0.0.0/8", "::1"] } }).firewall.defaultBlockDuration).to.equal(5_400_000);
    expect(respondersConfigSchema.safeParse({ firewal: {} }).success).to.equal(false);
    expect(respondersConfigSchema.safeParse({ firewall: { allowlist: ["10.0.0.0/33"] } }).success).to.equal(false);
    expect(respondersConfigSchema.safeParse({ firewall: { backend: "pf" } }).success).to.equal(false);
  });

  it("lists this host's addresses, loopback included", () => {
    expect(hostAddresses()).to.include("127.0.0.1");
  });
});
