import { expect } from "chai";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { createWindowSchedule, silencesConfigSchema } from "./silence-windows.js";
import { describeMatcher, endedUndigested, heldUntil, matchesSilence, parseSilenceArgs, silenceActive, silencing, type Silence } from "./silences.js";

const T0 = Date.UTC(2026, 11, 6, 2, 0, 0); // a Sunday, 02:00 UTC
const MIN = 60_000;
const HOUR = 60 * MIN;

function silence(overrides: Partial<Silence> = {}): Silence {
  return { silenceId: "s1", matcher: { agentId: "web-1", labels: {}, kinds: [] }, startsAt: T0, endsAt: T0 + HOUR, createdBy: "telegram:1", origin: "command", ...overrides };
}

const web1 = { agentId: "web-1", labels: { team: "web" }, kind: AlertKind.HTTP_404_BURST };
const db1 = { agentId: "db-1", labels: { team: "db", env: "prod" }, kind: AlertKind.SSH_SESSION };

describe("silences", () => {
  it("parses /silence arguments: a server, labels, kinds; refuses what it cannot read", () => {
    expect(parseSilenceArgs("web-1 2h")).to.deep.equal({ ok: true, matcher: { agentId: "web-1", labels: {}, kinds: [] }, durationMs: 2 * HOUR });
    expect(parseSilenceArgs(" label:team=db 30m  ssh_session ")).to.deep.equal({ ok: true, matcher: { labels: { team: "db" }, kinds: [AlertKind.SSH_SESSION] }, durationMs: 30 * MIN });
    expect(parseSilenceArgs("label:team=db,env=prod 1h30m http_404_burst ssh_brute_force")).to.deep.include({ ok: true, durationMs: 90 * MIN });
    expect(parseSilenceArgs("all 10m")).to.deep.equal({ ok: true, matcher: { labels: {}, kinds: [] }, durationMs: 10 * MIN });
    expect(parseSilenceArgs("")).to.deep.equal({ ok: false, problem: "no_target" });
    expect(parseSilenceArgs("web-1")).to.deep.equal({ ok: false, problem: "no_duration" });
    expect(parseSilenceArgs("web-1 soon")).to.deep.equal({ ok: false, problem: "bad_duration", token: "soon" });
    // A bare number is not a silence length an operator means (seconds? minutes?).
    expect(parseSilenceArgs("web-1 30")).to.deep.equal({ ok: false, problem: "bad_duration", token: "30" });
    expect(parseSilenceArgs("web-1 0m")).to.deep.include({ ok: false, problem: "bad_duration" });
    expect(parseSilenceArgs("web-1 31d")).to.deep.include({ ok: false, problem: "too_long" });
    expect(parseSilenceArgs("web-1 1h reboot")).to.deep.equal({ ok: false, problem: "bad_kind", token: "reboot" });
    expect(parseSilenceArgs("label:team 1h")).to.deep.include({ ok: false, problem: "bad_label" });
    expect(parseSilenceArgs("label:=db 1h")).to.deep.include({ ok: false, problem: "bad_label" });
    expect(parseSilenceArgs("<b>x</b> 1h")).to.deep.include({ ok: false, problem: "no_target" });
  });

  it("writes a matcher back as /silence takes it", () => {
    expect(describeMatcher({ agentId: "web-1", labels: {}, kinds: [] })).to.equal("web-1");
    expect(describeMatcher({ labels: { team: "db" }, kinds: [AlertKind.SSH_SESSION] })).to.equal("label:team=db ssh_session");
    expect(describeMatcher({ labels: {}, kinds: [] })).to.equal("all");
  });

  it("matches on server, every label and kind", () => {
    expect(matchesSilence({ agentId: "web-1", labels: {}, kinds: [] }, web1)).to.equal(true);
    expect(matchesSilence({ agentId: "web-1", labels: {}, kinds: [] }, db1)).to.equal(false);
    expect(matchesSilence({ labels: { team: "db" }, kinds: [] }, db1)).to.equal(true);
    expect(matchesSilence({ labels: { team: "db", env: "staging" }, kinds: [] }, db1)).to.equal(false);
    expect(matchesSilence({ labels: { team: "db" }, kinds: [AlertKind.SSH_BRUTE_FORCE] }, db1)).to.equal(false);
    expect(matchesSilence({ labels: {}, kinds: [] }, db1)).to.equal(true);
  });

  it("is in force from its start until its end or until it was ended early", () => {
    const s = silence();
    expect(silenceActive(s, T0 - 1)).to.equal(false);
    expect(silenceActive(s, T0)).to.equal(true);
    expect(silenceActive(s, T0 + HOUR - 1)).to.equal(true);
    expect(silenceActive(s, T0 + HOUR)).to.equal(false);
    expect(silenceActive({ ...s, endedAt: T0 + MIN }, T0 + MIN)).to.equal(false);
    expect(silencing([s], web1, T0 + MIN)?.silenceId).to.equal("s1");
    expect(silencing([s], db1, T0 + MIN)).to.equal(undefined);
    // Of two covering silences, the one that lasts longer holds the alert.
    expect(silencing([s, silence({ silenceId: "s2", endsAt: T0 + 2 * HOUR })], web1, T0 + MIN)?.silenceId).to.equal("s2");
  });

  it("follows overlapping silences to the end of the last one (the policy's clock starts there)", () => {
    const first = silence();
    const second = silence({ silenceId: "s2", matcher: { labels: { team: "web" }, kinds: [] }, startsAt: T0 + 30 * MIN, endsAt: T0 + 3 * HOUR });
    expect(heldUntil([first, second], web1, T0 + 10 * MIN)).to.equal(T0 + 3 * HOUR);
    expect(heldUntil([first], web1, T0 + 10 * MIN)).to.equal(T0 + HOUR);
    expect(heldUntil([first], web1, T0 - MIN)).to.equal(undefined);
    expect(heldUntil([{ ...first, endedAt: T0 + 20 * MIN }], web1, T0 + 10 * MIN)).to.equal(T0 + 20 * MIN);
  });

  it("lists the ended silences not yet digested, oldest end first", () => {
    const a = silence({ silenceId: "a", endsAt: T0 + 2 * HOUR });
    const b = silence({ silenceId: "b", endedAt: T0 + MIN });
    const c = silence({ silenceId: "c", digestedAt: T0 + HOUR });
    const d = silence({ silenceId: "d", endsAt: T0 + 5 * HOUR });
    expect(endedUndigested([a, b, c, d], T0 + 3 * HOUR).map((s) => s.silenceId)).to.deep.equal(["b", "a"]);
  });
});

describe("silence windows", () => {
  const config = (window: Record<string, unknown>) => silencesConfigSchema.parse({ windows: [{ name: "sunday", cron: "0 3 * * SUN", duration: "2h", ...window }] }).windows[0]!;

  it("validates the section: cron of five fields, duration, time zone, unique names", () => {
    expect(() => silencesConfigSchema.parse({ windows: [{ name: "x", cron: "0 0 3 * * SUN", duration: "2h" }] })).to.throw(/five fields/);
    expect(() => silencesConfigSchema.parse({ windows: [{ name: "x", cron: "0 25 * * *", duration: "2h" }] })).to.throw(/cron/);
    expect(() => silencesConfigSchema.parse({ windows: [{ name: "x", cron: "0 3 * * *", duration: "30s" }] })).to.throw(/1m to 7d/);
    expect(() => silencesConfigSchema.parse({ windows: [{ name: "x", cron: "0 3 * * *", duration: "1h", timezone: "Mars/Olympus" }] })).to.throw(/time zone/);
    expect(() => silencesConfigSchema.parse({ windows: [{ name: "x", cron: "0 3 * * *", duration: "1h" }, { name: "x", cron: "0 4 * * *", duration: "1h" }] })).to.throw(/another window/);
    expect(() => silencesConfigSchema.parse({ windows: [{ name: "x", cron: "0 3 * * *", duration: "1h", match: { kinds: ["reboot"] } }] })).to.throw();
    expect(silencesConfigSchema.parse({})).to.deep.equal({ windows: [], checkEvery: 15_000 });
  });

  it("is in force from each start the cron expression names, for its duration", () => {
    const schedule = createWindowSchedule(config({ match: { labels: { team: "db" } } }));
    try {
      expect(schedule.runAt(T0 + 59 * MIN)).to.equal(undefined);
      const run = schedule.runAt(T0 + HOUR);
      expect(run).to.deep.include({ silenceId: `window:sunday:${T0 + HOUR}`, startsAt: T0 + HOUR, endsAt: T0 + 3 * HOUR, origin: "window", createdBy: "window:sunday" });
      expect(run?.matcher).to.deep.equal({ agentId: undefined, labels: { team: "db" }, kinds: [] });
      expect(schedule.runAt(T0 + 3 * HOUR - 1)?.startsAt).to.equal(T0 + HOUR);
      expect(schedule.runAt(T0 + 3 * HOUR)).to.equal(undefined);
      // Next Sunday, and not on the days between.
      expect(schedule.runAt(T0 + 3 * 86_400_000 + HOUR)).to.equal(undefined);
      expect(schedule.runAt(T0 + 7 * 86_400_000 + HOUR + MIN)?.startsAt).to.equal(T0 + 7 * 86_400_000 + HOUR);
    } finally {
      schedule.stop();
    }
  });

  it("finds the run in force when it first looks in the middle of it, and after the clock goes back", () => {
    const schedule = createWindowSchedule(config({ timezone: "Europe/Madrid" }));
    try {
      // 03:00 in Madrid (UTC+1 in December) is 02:00 UTC.
      expect(schedule.runAt(T0 + 90 * MIN)?.startsAt).to.equal(T0);
      expect(schedule.runAt(T0 + 5 * HOUR)).to.equal(undefined);
      expect(schedule.runAt(T0 + 30 * MIN)?.startsAt).to.equal(T0);
    } finally {
      schedule.stop();
    }
  });
});
