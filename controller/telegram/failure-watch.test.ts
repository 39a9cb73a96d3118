import { Writable } from "node:stream";
import { expect } from "chai";
import { createLogger } from "../../common/log.js";
import { createEventBus } from "../domain/events.js";
import { createControllerMetrics } from "../metrics/metrics.js";
import { sendHealthLine } from "./commands.js";
import { createFailureWatch } from "./failure-watch.js";
import { translations } from "./i18n/translations.js";

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 29, 14, 2, 0);

function setup(thresholdMs = 5 * MIN) {
  const lines: Array<{ level: number; msg: string }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const clock = { now: T0 };
  const watch = createFailureWatch({ thresholdMs, logger: createLogger({ level: "debug", destination }), now: () => clock.now });
  const fail = (reason = "Telegram answered 502: Bad Gateway") => watch.record({ ok: false, failure: "transient", reason });
  const errors = () => lines.filter((l) => l.level === 50).map((l) => l.msg);
  const warnings = () => lines.filter((l) => l.level === 40).map((l) => l.msg);
  return { watch, clock, fail, errors, warnings };
}

describe("telegram failure watch (injected clock)", () => {
  it("failures shorter than the threshold are not reported", () => {
    const { watch, clock, fail, errors } = setup();
    fail();
    clock.now += 4 * MIN;
    fail();
    watch.check();
    watch.record({ ok: true });
    clock.now += 10 * MIN;
    watch.check();
    expect(watch.health()).to.deep.include({ failing: false, failingSince: undefined, lastError: undefined, lastSuccessAt: T0 + 4 * MIN, lastIncident: undefined });
    expect(errors()).to.deep.equal([]);
  });

  it("failing past the threshold: one error line, however many failures or checks follow", () => {
    const { watch, clock, fail, errors } = setup();
    watch.record({ ok: true });
    clock.now += MIN;
    fail("Telegram unreachable: connect ECONNREFUSED");
    const since = clock.now;
    for (let i = 0; i < 10; i += 1) {
      clock.now += MIN;
      fail();
      watch.check();
    }
    expect(watch.health()).to.deep.include({ failing: true, failingSince: since, lastError: "Telegram answered 502: Bad Gateway", lastSuccessAt: T0 });
    expect(errors()).to.have.length(1);
    expect(errors()[0]).to.match(/^telegram: sends failing for 300 s \(since 2026-11-29T14:03:00.000Z\): /);
  });

  it("the threshold is crossed by the clock alone, with no further call (the queue waits out a backoff)", () => {
    const { watch, clock, fail, errors } = setup();
    fail();
    clock.now += 5 * MIN - 1;
    watch.check();
    expect(watch.health().failing).to.equal(false);
    clock.now += 1;
    watch.check();
    expect(watch.health().failing).to.equal(true);
    expect(errors()).to.have.length(1);
  });

  it("recovery: one warning, the incident kept for /status, and a new run starts from scratch", () => {
    const { watch, clock, fail, errors, warnings } = setup();
    fail("Telegram answered 401: Unauthorized");
    clock.now += 6 * MIN;
    watch.check();
    clock.now += 2 * MIN;
    watch.record({ ok: true });
    watch.record({ ok: true });
    expect(warnings()).to.deep.equal(["telegram: sends work again after failing for 480 s"]);
    expect(watch.health()).to.deep.include({ failing: false, failingSince: undefined, lastSuccessAt: T0 + 8 * MIN });
    expect(watch.health().lastIncident).to.deep.equal({ since: T0, until: T0 + 8 * MIN, lastError: "Telegram answered 401: Unauthorized" });
    // A second run is reported again, once.
    fail();
    clock.now += 5 * MIN;
    watch.check();
    expect(errors()).to.have.length(2);
  });

  it("/status line: failing now, failed within the day, then nothing", () => {
    const { watch, clock, fail } = setup();
    const t = translations.en;
    expect(sendHealthLine(watch.health(), t, clock.now)).to.equal(undefined);
    fail("Telegram answered 400: Bad Request: chat not found <b>");
    clock.now += 5 * MIN;
    watch.check();
    expect(sendHealthLine(watch.health(), t, clock.now)).to.equal("⚠️ Telegram sends failing since 2026-11-29 14:02 UTC (last error: Telegram answered 400: Bad Request: chat not found &lt;b&gt;)");
    expect(sendHealthLine(watch.health(), translations.es, clock.now)).to.equal(
      "⚠️ Los envíos a Telegram fallan desde las 2026-11-29 14:02 UTC (último error, en inglés: «Telegram answered 400: Bad Request: chat not found &lt;b&gt;»)",
    );
    clock.now += 3 * MIN;
    watch.record({ ok: true });
    expect(sendHealthLine(watch.health(), t, clock.now)).to.equal(
      "Telegram sends failed from 2026-11-29 14:02 UTC to 2026-11-29 14:10 UTC (last error: Telegram answered 400: Bad Request: chat not found &lt;b&gt;)",
    );
    clock.now += 25 * 60 * MIN;
    expect(sendHealthLine(watch.health(), t, clock.now)).to.equal(undefined);
  });

  it("metrics: secarc_telegram_failing and seconds since the last success follow the watch", async () => {
    const { watch, clock, fail } = setup();
    const metrics = createControllerMetrics({ events: createEventBus(() => {}), store: { listAgents: async () => [], getAgent: async () => undefined, getAlert: async () => undefined, getAction: async () => undefined }, processMetrics: false, now: () => clock.now });
    const value = async (name: string) => {
      const text = await metrics.registry.metrics();
      const line = text.split("\n").find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.split(" ")[1]);
    };
    // No bridge yet: 0, and no age.
    expect(await value("secarc_telegram_failing")).to.equal(0);
    metrics.watchTelegramSends(() => watch.health());
    clock.now += 30_000;
    expect(await value("secarc_telegram_seconds_since_last_success")).to.equal(30);
    watch.record({ ok: true });
    fail();
    clock.now += 5 * MIN;
    watch.check();
    expect(await value("secarc_telegram_failing")).to.equal(1);
    expect(await value("secarc_telegram_seconds_since_last_success")).to.equal(300);
    watch.record({ ok: true });
    expect(await value("secarc_telegram_failing")).to.equal(0);
    expect(await value("secarc_telegram_seconds_since_last_success")).to.equal(0);
    metrics.close();
  });
});
