import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import { createSqliteSilenceStore } from "../store/sqlite-silences.js";
import { sampleAlert } from "../../testing/alert-fixtures.js";
import { decideNoAnswer, ruleTable, type NoAnswerRule } from "./no-answer-policy.js";
import { createSilenceWatch, type SilenceWatch } from "./silence-watch.js";
import { createWindowSchedule, silencesConfigSchema } from "./silence-windows.js";
import type { Silence } from "./silences.js";

const T0 = Date.UTC(2026, 11, 6, 2, 0, 0); // a Sunday
const MIN = 60_000;
const HOUR = 60 * MIN;
const web1 = { agentId: "web-1", labels: {}, kind: AlertKind.HTTP_404_BURST };

describe("silence watch (SQLite store, driven clock)", () => {
  let dir: string;
  let store: SqliteStore;
  let clock: number;
  const watches: SilenceWatch[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-silence-watch-"));
    store = openSqliteStore(join(dir, "controller.db"));
    clock = T0;
  });
  afterEach(async () => {
    for (const watch of watches.splice(0)) watch.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function watch(windows: Array<Record<string, unknown>> = []): Promise<{ watch: SilenceWatch; ended: Silence[] }> {
    const config = silencesConfigSchema.parse({ windows });
    const created = createSilenceWatch({ store: createSqliteSilenceStore(store.db), windows: config.windows.map(createWindowSchedule), logger: silentLogger(), now: () => clock, checkEveryMs: 0 });
    watches.push(created);
    const ended: Silence[] = [];
    created.onEnded((silence) => void ended.push(silence));
    await created.load();
    await created.start();
    return { watch: created, ended };
  }

  it("keeps a silence across a restart and hands it to the listeners once when it ends", async () => {
    const first = await watch();
    const silence = await first.watch.add({ matcher: { agentId: "web-1", labels: {}, kinds: [] }, durationMs: HOUR, createdBy: "telegram:1" });
    expect(first.watch.silencing(web1)?.silenceId).to.equal(silence.silenceId);
    first.watch.stop();

    clock += 30 * MIN;
    const second = await watch();
    expect(second.watch.active().map((s) => s.silenceId)).to.deep.equal([silence.silenceId]);
    expect(second.watch.silencing({ ...web1, agentId: "web-2" })).to.equal(undefined);
    clock += 30 * MIN;
    await second.watch.check();
    await second.watch.check();
    expect(second.ended.map((s) => s.silenceId)).to.deep.equal([silence.silenceId]);
    expect(second.watch.silencing(web1)).to.equal(undefined);
    second.watch.stop();

    // Digested: a later start does not hand it out again.
    const third = await watch();
    expect(third.ended).to.deep.equal([]);
    expect(third.watch.heldUntil(web1, T0 + MIN)).to.equal(T0 + HOUR);
  });

  it("retries the digest of a silence whose listener failed", async () => {
    const { watch: w } = await watch();
    let fail = true;
    const seen: string[] = [];
    w.onEnded((s) => {
      if (fail) throw new Error("queue unavailable");
      seen.push(s.silenceId);
    });
    const silence = await w.add({ matcher: { labels: {}, kinds: [] }, durationMs: MIN, createdBy: "t" });
    clock += MIN;
    await w.check();
    expect(seen).to.deep.equal([]);
    fail = false;
    await w.check();
    expect(seen).to.deep.equal([silence.silenceId]);
  });

  it("ends a silence early (Unsilence) once; a window run is stored when it starts and can be ended too", async () => {
    const { watch: w, ended } = await watch([{ name: "sunday", cron: "0 3 * * SUN", duration: "2h" }]);
    const silence = await w.add({ matcher: { agentId: "web-1", labels: {}, kinds: [] }, durationMs: HOUR, createdBy: "t" });
    clock += 10 * MIN;
    expect((await w.end(silence.silenceId))?.endedAt).to.equal(clock);
    expect(await w.end(silence.silenceId)).to.equal(undefined);
    expect(ended.map((s) => s.silenceId)).to.deep.equal([silence.silenceId]);

    clock = T0 + HOUR + 5 * MIN;
    await w.check();
    const run = w.silencing(web1);
    expect(run?.silenceId).to.equal(`window:sunday:${T0 + HOUR}`);
    expect(await w.end(run!.silenceId)).to.not.equal(undefined);
    // The same run does not come back in the same window.
    clock += MIN;
    await w.check();
    expect(w.silencing(web1)).to.equal(undefined);
    expect(ended.map((s) => s.silenceId)).to.deep.equal([silence.silenceId, `window:sunday:${T0 + HOUR}`]);
  });
});

describe("the no-answer policy and silences", () => {
  const rule: NoAnswerRule = { kind: AlertKind.HTTP_404_BURST, severity: Severity.CRITICAL, answer: Answer.BLOCK_IP, afterMs: 5 * MIN, durationMs: undefined, label: "block_ip critical http_404_burst after 5m" };
  const alert = sampleAlert(AlertKind.HTTP_404_BURST, { id: "a-1", at: T0, severity: Severity.CRITICAL });
  const record = { alertId: alert.id, agentId: "web-1", alert, receivedAt: new Date(T0), severitySince: new Date(T0), updatedAt: new Date(T0), version: 1 };
  const base = { record, answered: false, agentActions: [Answer.BLOCK_IP, Answer.IGNORE], answerWindowMs: 24 * HOUR };

  it("does not act while a silence holds the alert: its time starts when the silence ends", () => {
    const rules = ruleTable([rule]);
    expect(decideNoAnswer(rules, { ...base, now: T0 + 10 * MIN, heldUntil: T0 + HOUR })).to.deep.equal({ type: "wait", rule, dueAt: T0 + HOUR + 5 * MIN });
    expect(decideNoAnswer(rules, { ...base, now: T0 + HOUR + 5 * MIN, heldUntil: T0 + HOUR }).type).to.equal("apply");
    expect(decideNoAnswer(rules, { ...base, now: T0 + 10 * MIN }).type).to.equal("apply");
  });

  it("acts as if there were no silence when the rule says duringSilence", () => {
    const during = { ...rule, duringSilence: true };
    expect(decideNoAnswer(ruleTable([during]), { ...base, now: T0 + 5 * MIN, heldUntil: T0 + HOUR })).to.deep.equal({ type: "apply", rule: during });
  });
});
