import { join } from "node:path";
import { expect } from "chai";
import type { ControllerConfig, ControllerConfigInput } from "../controller/config.js";
import { startController, type RunningController } from "../controller/controller.js";
import { createFakeBotApi, type FakeBotApi } from "../testing/fake-bot-api.js";
import { captureLog, testControllerConfig, type CapturedLog } from "./support/controller-harness.js";
import { eventually } from "./support/replica-database.js";
import { useReplicaFleet } from "./support/replica-fleet.js";
import { CHAT, OPERATOR } from "./support/telegram-harness.js";

/**
 * A config reload (SIGHUP) on replicas sharing PostgreSQL: the Telegram
 * voice stays where it is. A reload that changes nothing starts nothing
 * again; one that changes the telegram section starts the voice's bridge
 * again under the same lease, while the other replica stays silent; and
 * neither says the voice moved ("another replica speaks now") when it did
 * not, nor that this replica speaks when it already did.
 */
describe("Telegram on replicas (PostgreSQL): a config reload does not move the voice", function () {
  this.timeout(120_000);
  const fleets = useReplicaFleet("secarc-telegram-replica-reload-");
  const controllers: RunningController[] = [];
  let api: FakeBotApi;
  beforeEach(async () => {
    api = createFakeBotApi();
    await api.start();
  });
  afterEach(async () => {
    for (const c of controllers.splice(0)) await c.close();
    await api.stop();
  });

  it("the same config starts nothing again; a changed telegram section restarts the voice's bridge in place, the other stays silent; no voice change is logged", async () => {
    const fleet = await fleets.create("telegram_reload", { poolSize: 6 });
    const telegram = { token: api.token, apiRoot: api.apiRoot, chats: [{ id: CHAT }], allowedUsers: [OPERATOR.id], pace: { perChat: "50ms" } };
    const configOf = (name: string, overrides: Partial<ControllerConfigInput> = {}): ControllerConfig =>
      testControllerConfig(fleets.pki, fleets.dir, { store: fleet.store, admin: { socket: join(fleets.dir, `reload-${name}.sock`) }, telegram, ...overrides });
    const start = async (name: string) => {
      const log = captureLog();
      const controller = await startController({ config: configOf(name), logger: log.logger });
      controllers.push(controller);
      return { name, controller, log };
    };
    const [a, b] = [await start("a"), await start("b")];
    await eventually(async () => (await fleet.leaseHolder()) !== undefined, "a replica holds the Telegram lease");
    await Promise.all([a.controller.telegramSettled(), b.controller.telegramSettled()]);
    const holder = (await fleet.leaseHolder())!;
    const [voice, silent] = holder.holder === a.controller.replicaId ? [a, b] : [b, a];
    await eventually(() => voice.log.matching("telegram bridge started").length > 0, "the voice's bridge started");
    const voiceLines = (log: CapturedLog) => ({
      moved: log.matching("another replica speaks now").length,
      speaks: log.matching("this replica speaks").length,
      bridgeStarts: log.matching("telegram bridge started").length,
    });
    expect(voiceLines(voice.log)).to.deep.equal({ moved: 0, speaks: 1, bridgeStarts: 1 });
    expect(voiceLines(silent.log)).to.deep.equal({ moved: 0, speaks: 0, bridgeStarts: 0 });

    // The same file again.
    for (const r of [voice, silent]) {
      const outcome = await r.controller.reload(configOf(r.name));
      await r.controller.telegramSettled();
      expect(outcome, r.name).to.deep.equal({ applied: [], needRestart: [] });
    }
    expect(voiceLines(voice.log)).to.deep.equal({ moved: 0, speaks: 1, bridgeStarts: 1 });
    expect(voiceLines(silent.log)).to.deep.equal({ moved: 0, speaks: 0, bridgeStarts: 0 });

    // A changed telegram section: the voice's bridge starts again with it, under the same lease; the other one stays silent.
    const changed = { ...telegram, confirmTimeout: "45s" };
    for (const r of [voice, silent]) {
      const outcome = await r.controller.reload(configOf(r.name, { telegram: changed }));
      await r.controller.telegramSettled();
      expect(outcome.applied, r.name).to.deep.equal(["telegram"]);
    }
    expect(voiceLines(voice.log)).to.deep.equal({ moved: 0, speaks: 1, bridgeStarts: 2 });
    expect(voiceLines(silent.log)).to.deep.equal({ moved: 0, speaks: 0, bridgeStarts: 0 });
    expect(voice.log.matching("started again with the new config")).to.have.length(1);
    expect(await fleet.leaseHolder()).to.deep.equal(holder);
    // The restarted bridge polls and answers (once: the other replica does not).
    api.sendCommand(CHAT, OPERATOR, "/alerts");
    await api.waitFor(() => api.messagesIn(CHAT).length >= 1, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(api.messagesIn(CHAT)).to.have.length(1);
    expect(api.calls.filter((c) => c.method === "getUpdates" && c.status === 409), "two pollers at once").to.deep.equal([]);
  });
});
