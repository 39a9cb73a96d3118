import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Answer, ResponseActionSchema, ResultStatus, type ResponseAction } from "../../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../../common/log.js";
import { createAllowResponder } from "./allow-responder.js";
import type { Firewall } from "./firewall.js";
import { createFirewallResponder } from "./firewall-responder.js";
import { createMuteStore } from "./mute-store.js";
import { done, failed } from "./result.js";

/** A firewall that records what it was asked; `blocked` is what it holds. */
function fakeFirewall(blocked: string[] = [], failUnblock = false) {
  const calls: string[] = [];
  const firewall = {
    isBlocked: (ip: string) => blocked.includes(ip),
    async unblock(ip: string) {
      calls.push(`unblock ${ip}`);
      if (failUnblock) return failed(`unblocking ${ip} failed: nft: boom`);
      blocked.splice(blocked.indexOf(ip), 1);
      return done(`${ip} unblocked`);
    },
    async block(ip: string, durationMs?: number) {
      calls.push(`block ${ip} ${durationMs}`);
      return done(`${ip} blocked`);
    },
  };
  return { firewall, calls, blocked };
}

const T0 = Date.parse("2026-11-29T14:02:00Z");

describe("allow / ignore / revoke decisions and the mute store", () => {
  let dir: string;
  let now = T0;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-mutes-"));
    now = T0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const responder = (options: { dryRun?: boolean; firewall?: ReturnType<typeof fakeFirewall>["firewall"]; defaultAllowDurationMs?: number } = {}) =>
    createAllowResponder({
      mutes: createMuteStore(dir, () => now),
      logger: silentLogger(),
      now: () => now,
      dryRun: options.dryRun ?? false,
      defaultAllowDurationMs: options.defaultAllowDurationMs ?? 86_400_000,
      ...(options.firewall ? { firewall: options.firewall } : {}),
    });
  const allow = (ip: string, durationMs?: number, id = `allow-${ip}`): ResponseAction =>
    create(ResponseActionSchema, {
      actionId: id,
      alertId: "alert-1",
      answer: Answer.ALLOW,
      requestedBy: { telegramUserId: 77n, username: "op" },
      target: { target: { case: "ip", value: ip } },
      options: durationMs === undefined ? {} : { duration: durationFromMs(durationMs) },
    });
  const revoke = (ip: string): ResponseAction =>
    create(ResponseActionSchema, { actionId: `revoke-${ip}`, answer: Answer.REVOKE_ALLOW, target: { target: { case: "ip", value: ip } } });
  const block = (ip: string): ResponseAction =>
    create(ResponseActionSchema, { actionId: `block-${ip}`, answer: Answer.BLOCK_IP, target: { target: { case: "ip", value: ip } }, options: { duration: durationFromMs(3_600_000) } });

  it("ALLOW for 1 h of a blocked address unblocks it, records the entry, and says both", async () => {
    const fw = fakeFirewall(["198.51.100.23"]);
    const outcome = await responder({ firewall: fw.firewall }).execute(allow("198.51.100.23", 3_600_000));
    expect(outcome).to.deep.equal({
      status: ResultStatus.DONE,
      detail: "allowed 198.51.100.23 for 1h (alerts muted); unblocked it",
      expiresAt: new Date(T0 + 3_600_000),
    });
    expect(fw.calls).to.deep.equal(["unblock 198.51.100.23"]);
    const entry = createMuteStore(dir).find("ip", "198.51.100.23", T0 + 1000);
    expect(entry).to.deep.equal({ scope: "ip", key: "198.51.100.23", until: T0 + 3_600_000, actionId: "allow-198.51.100.23", since: T0, decision: "allow", by: "@op" });
    expect(createMuteStore(dir).find("ip", "198.51.100.23", T0 + 3_600_000)).to.equal(undefined);
  });

  it("ALLOW of an address that is not blocked touches no firewall; zero duration = until revoked (no expiry)", async () => {
    const fw = fakeFirewall([]);
    const outcome = await responder({ firewall: fw.firewall }).execute(allow("2001:db8:0:0::7", 0));
    expect(outcome).to.deep.equal({ status: ResultStatus.DONE, detail: "allowed 2001:db8::7 until revoked (alerts muted)" });
    expect(fw.calls).to.deep.equal([]);
    // Ten years later, still allowed.
    expect(createMuteStore(dir).find("ip", "2001:db8::7", T0 + 10 * 365 * 86_400_000)?.until).to.equal(null);
  });

  it("ALLOW mutes for 24 h by default (seen by another store on the same dir); default 0 records nothing", async () => {
    const outcome = await responder().execute(allow("::ffff:203.0.113.7"));
    expect(outcome).to.deep.equal({ status: ResultStatus.DONE, detail: "allowed 203.0.113.7 for 24h (alerts muted)", expiresAt: new Date(now + 86_400_000) });
    const detectorSide = createMuteStore(dir);
    expect(detectorSide.isMuted("ip", "203.0.113.7", now + 1000)).to.equal(true);
    expect(detectorSide.isMuted("ip", "203.0.113.8", now + 1000)).to.equal(false);
    expect(detectorSide.isMuted("ip", "203.0.113.7", now + 86_400_001)).to.equal(false);
    expect(JSON.parse(readFileSync(join(dir, "mutes.json"), "utf8")).mutes).to.have.length(1);
    expect(await responder({ defaultAllowDurationMs: 0 }).execute(allow("203.0.113.9"))).to.deep.equal({ status: ResultStatus.DONE, detail: "allowed 203.0.113.9" });
    expect(detectorSide.isMuted("ip", "203.0.113.9", now + 1)).to.equal(false);
  });

  it("a shorter later ALLOW does not shorten an allow, nor move its start; expired entries are pruned", async () => {
    await responder().execute(allow("203.0.113.7", 3_600_000));
    now += 60_000;
    await responder().execute(allow("203.0.113.7", 60_000, "second"));
    const store = createMuteStore(dir);
    expect(store.active(now).map((m) => [m.until, m.since, m.actionId])).to.deep.equal([[T0 + 3_600_000, T0, "second"]]);
    now += 7_200_000;
    await responder().execute(allow("203.0.113.9", 60_000));
    expect(createMuteStore(dir).active(0).map((m) => m.key)).to.deep.equal(["203.0.113.9"]);
  });

  it("an unblock that fails records no allow and reports the failure", async () => {
    const fw = fakeFirewall(["198.51.100.23"], true);
    const outcome = await responder({ firewall: fw.firewall }).execute(allow("198.51.100.23", 3_600_000));
    expect(outcome).to.deep.equal({ status: ResultStatus.FAILED, detail: "198.51.100.23 not allowed: unblocking it failed: unblocking 198.51.100.23 failed: nft: boom" });
    expect(createMuteStore(dir).active(0)).to.deep.equal([]);
  });

  it("BLOCK_IP of an allowed address (or a network holding one) is refused with who allowed it until when; after REVOKE_ALLOW it blocks", async () => {
    const fw = fakeFirewall([]);
    await responder({ firewall: fw.firewall }).execute(allow("198.51.100.23", 3_600_000));
    const firewallResponder = createFirewallResponder(fw.firewall as unknown as Firewall, { mutes: createMuteStore(dir), now: () => now });
    expect(await firewallResponder.execute(block("198.51.100.23"))).to.deep.equal({
      status: ResultStatus.REFUSED,
      detail: "refused: 198.51.100.23 is allowed until 2026-11-29 15:02 UTC by @op; revoke the allow first (/allows)",
    });
    expect((await firewallResponder.execute(block("::ffff:198.51.100.23"))).status).to.equal(ResultStatus.REFUSED);
    expect((await firewallResponder.execute(block("198.51.100.0/24"))).detail).to.equal(
      "refused: 198.51.100.0/24 contains 198.51.100.23, which is allowed until 2026-11-29 15:02 UTC by @op; revoke the allow first (/allows)",
    );
    expect(fw.calls).to.deep.equal([]);
    expect(await firewallResponder.execute(block("198.51.100.24"))).to.deep.equal({ status: ResultStatus.DONE, detail: "198.51.100.24 blocked" });

    expect(await responder().execute(revoke("198.51.100.23"))).to.deep.equal({
      status: ResultStatus.DONE,
      detail: "allow of 198.51.100.23 revoked (was until 2026-11-29 15:02 UTC); its alerts are no longer muted",
    });
    expect(createMuteStore(dir).find("ip", "198.51.100.23", now)).to.equal(undefined);
    expect(await firewallResponder.execute(block("198.51.100.23"))).to.deep.equal({ status: ResultStatus.DONE, detail: "198.51.100.23 blocked" });
    // Revoking again changes nothing and says so.
    expect(await responder().execute(revoke("198.51.100.23"))).to.deep.equal({ status: ResultStatus.DONE, detail: "198.51.100.23 was not allowed; nothing to revoke" });
  });

  it("an allow that ended lets BLOCK_IP through", async () => {
    const fw = fakeFirewall([]);
    await responder().execute(allow("198.51.100.23", 3_600_000));
    const firewallResponder = createFirewallResponder(fw.firewall as unknown as Firewall, { mutes: createMuteStore(dir), now: () => now });
    now = T0 + 3_600_000;
    expect((await firewallResponder.execute(block("198.51.100.23"))).status).to.equal(ResultStatus.DONE);
  });

  it("IGNORE mutes the alert for options.duration, or records nothing without one; it is not an allow", async () => {
    const ignore = (durationMs?: number, ip?: string) =>
      create(ResponseActionSchema, {
        actionId: "i",
        alertId: "alert-cpu-1",
        answer: Answer.IGNORE,
        ...(ip ? { target: { target: { case: "ip" as const, value: ip } } } : {}),
        options: durationMs === undefined ? {} : { duration: durationFromMs(durationMs) },
      });
    expect(await responder().execute(ignore())).to.deep.equal({ status: ResultStatus.DONE, detail: "ignored" });
    expect(createMuteStore(dir).active(0)).to.deep.equal([]);
    const outcome = await responder().execute(ignore(1_800_000));
    expect(outcome.detail).to.equal("ignored for 30m; re-alerts muted");
    expect(createMuteStore(dir).isMuted("alert", "alert-cpu-1", now + 1)).to.equal(true);
    await responder().execute(ignore(1_800_000, "203.0.113.50"));
    const fw = fakeFirewall([]);
    const firewallResponder = createFirewallResponder(fw.firewall as unknown as Firewall, { mutes: createMuteStore(dir), now: () => now });
    expect((await firewallResponder.execute(block("203.0.113.50"))).status).to.equal(ResultStatus.DONE);
  });

  it("refuses bad targets and writes nothing in dry run", async () => {
    expect((await responder().execute(allow("1.2.3.4; reboot"))).detail).to.equal('refused: "1.2.3.4; reboot" is not an IP address');
    expect((await responder().execute(create(ResponseActionSchema, { answer: Answer.ALLOW }))).detail).to.equal("refused: ALLOW needs an address (target.ip)");
    expect((await responder().execute(create(ResponseActionSchema, { answer: Answer.REVOKE_ALLOW }))).detail).to.equal("refused: REVOKE_ALLOW needs an address (target.ip)");
    expect((await responder().execute(revoke("--all"))).detail).to.equal('refused: "--all" is not an IP address');
    const session = create(ResponseActionSchema, { answer: Answer.ALLOW, target: { target: { case: "session", value: { sshdPid: 1, sourceIp: "203.0.113.7" } } } });
    expect((await responder().execute(session)).detail).to.equal("refused: ALLOW takes an address or nothing as target, not a session");
    const fw = fakeFirewall(["203.0.113.7"]);
    const dry = await responder({ dryRun: true, firewall: fw.firewall }).execute(allow("203.0.113.7"));
    expect(dry).to.deep.equal({ status: ResultStatus.DONE, dryRun: true, detail: "dry run: would record: allowed 203.0.113.7 for 24h (alerts muted); unblock 203.0.113.7" });
    expect(fw.calls).to.deep.equal([]);
    expect(createMuteStore(dir).active(0)).to.deep.equal([]);
  });

  it("reads the allow-list file of an older agent (no decision, since or by) as allows", () => {
    writeFileSync(join(dir, "mutes.json"), JSON.stringify({ version: 1, mutes: [{ scope: "ip", key: "203.0.113.7", until: T0 + 1000, actionId: "old" }] }));
    const store = createMuteStore(dir);
    expect(store.find("ip", "203.0.113.7", T0)).to.deep.equal({ scope: "ip", key: "203.0.113.7", until: T0 + 1000, actionId: "old" });
    expect(store.remove("ip", "203.0.113.7", T0)?.actionId).to.equal("old");
    expect(store.active(0)).to.deep.equal([]);
  });
});
