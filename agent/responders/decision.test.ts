import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Answer, ResponseActionSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../../common/log.js";
import { createDecisionResponder } from "./decision.js";
import { createMuteStore } from "./mute-store.js";

describe("allow / ignore decisions and the mute store", () => {
  let dir: string;
  let now = 1_000_000;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-mutes-"));
    now = 1_000_000;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const responder = (dryRun = false) =>
    createDecisionResponder({ mutes: createMuteStore(dir, () => now), logger: silentLogger(), now: () => now, dryRun, defaultAllowDurationMs: 86_400_000 });
  const allow = (ip: string, durationMs?: number) =>
    create(ResponseActionSchema, {
      actionId: `allow-${ip}`,
      alertId: "alert-1",
      answer: Answer.ALLOW,
      target: { target: { case: "ip", value: ip } },
      options: durationMs === undefined ? {} : { duration: durationFromMs(durationMs) },
    });

  it("ALLOW mutes re-alerts for the address for 24h by default, seen by another store on the same dir", async () => {
    const outcome = await responder().execute(allow("::ffff:203.0.113.7"));
    expect(outcome).to.deep.equal({ status: ResultStatus.DONE, detail: "allowed 203.0.113.7 for 24h; re-alerts muted", expiresAt: new Date(now + 86_400_000) });
    const detectorSide = createMuteStore(dir);
    expect(detectorSide.isMuted("ip", "203.0.113.7", now + 1000)).to.equal(true);
    expect(detectorSide.isMuted("ip", "203.0.113.8", now + 1000)).to.equal(false);
    expect(detectorSide.isMuted("ip", "203.0.113.7", now + 86_400_001)).to.equal(false);
    expect(JSON.parse(readFileSync(join(dir, "mutes.json"), "utf8")).mutes).to.have.length(1);
  });

  it("a shorter later ALLOW does not shorten a mute; expired mutes are pruned", async () => {
    await responder().execute(allow("203.0.113.7", 3_600_000));
    await responder().execute(allow("203.0.113.7", 60_000));
    const store = createMuteStore(dir);
    expect(store.active(now).map((m) => m.until)).to.deep.equal([now + 3_600_000]);
    now += 7_200_000;
    await responder().execute(allow("203.0.113.9", 60_000));
    expect(createMuteStore(dir).active(0).map((m) => m.key)).to.deep.equal(["203.0.113.9"]);
  });

  it("IGNORE mutes the alert for options.duration, or records nothing without one", async () => {
    const ignore = (durationMs?: number) =>
      create(ResponseActionSchema, { actionId: "i", alertId: "alert-cpu-1", answer: Answer.IGNORE, options: durationMs === undefined ? {} : { duration: durationFromMs(durationMs) } });
    expect(await responder().execute(ignore())).to.deep.equal({ status: ResultStatus.DONE, detail: "ignored" });
    expect(createMuteStore(dir).active(0)).to.deep.equal([]);
    const outcome = await responder().execute(ignore(1_800_000));
    expect(outcome.detail).to.equal("ignored for 30m; re-alerts muted");
    expect(createMuteStore(dir).isMuted("alert", "alert-cpu-1", now + 1)).to.equal(true);
  });

  it("refuses bad targets and writes nothing in dry run", async () => {
    expect((await responder().execute(allow("1.2.3.4; reboot"))).detail).to.equal('refused: "1.2.3.4; reboot" is not an IP address');
    expect((await responder().execute(create(ResponseActionSchema, { answer: Answer.ALLOW }))).detail).to.equal("refused: ALLOW needs an address (target.ip)");
    const dry = await responder(true).execute(allow("203.0.113.7"));
    expect(dry).to.deep.equal({ status: ResultStatus.DONE, dryRun: true, detail: "dry run: would record: allowed 203.0.113.7 for 24h; re-alerts muted" });
    expect(createMuteStore(dir).active(0)).to.deep.equal([]);
  });
});
