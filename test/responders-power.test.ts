import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Answer, ResultStatus, type ActionResult } from "../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../common/log.js";
import { createActionExecutor } from "../agent/journal/action-executor.js";
import { createJournal } from "../agent/journal/journal.js";
import { createOutbox } from "../agent/outbox/outbox.js";
import { openStateDb } from "../agent/outbox/state-db.js";
import { respondersConfigSchema } from "../agent/responders/config.js";
import type { Command, ProgramRunner } from "../agent/responders/program-runner.js";
import { createResponderSet } from "../agent/responders/registry.js";
import { action } from "./support/responder-lab.js";

/**
 * Reboot exactly once: the agent's journal (begin before execute) around
 * the power responder, whose runner records commands instead of running
 * them. Restarts are simulated by closing the state database and opening it
 * again with a new agent (and, after a reboot, a new boot id).
 */
describe("responders: reboot exactly once across restarts (journal + power responder)", () => {
  let dir: string;
  const commands: Command[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "secarc-power-"));
    commands.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** One run of the agent's action path on `dir`. */
  function startAgent(bootId: string) {
    const db = openStateDb(dir);
    const now = Date.now;
    // Every run records into the same list, as a real host has one systemd.
    const recorder: ProgramRunner = { run: async (c) => (commands.push(c), { code: 0, stdout: "", stderr: "" }) };
    const set = createResponderSet(respondersConfigSchema.parse({ power: { delay: "30s" } }), {
      logger: silentLogger(),
      now,
      controllerAddresses: [],
      stateDir: dir,
      runner: recorder,
      hasSystemd: () => true,
    });
    const sent: ActionResult[] = [];
    const journal = createJournal({ db, now, bootId });
    const outbox = createOutbox({ db, now });
    const recovered = journal.recover((r) => outbox.putResult(r));
    const executor = createActionExecutor({ journal, outbox, responders: set.responders, send: (r) => sent.push(r), bootId, logger: silentLogger(), now });
    return { db, journal, executor, sent, recovered, stop: () => db.close() };
  }

  it("executes a reboot once; redelivered after the restart, it is answered \"done\" without running again", async () => {
    const reboot = action(Answer.REBOOT, undefined, { actionId: "act-reboot-1" });
    const first = startAgent("boot-1");
    await first.executor.handle(reboot);
    await first.executor.handle(reboot);
    expect(commands.map((c) => [c.file, ...c.args].join(" "))).to.deep.equal([
      "systemd-run --unit=secarc-reboot-actreboot1 --on-active=30s --timer-property=AccuracySec=1s /usr/bin/systemctl reboot",
    ]);
    expect(first.sent.map((r) => [r.status, r.detail])).to.deep.equal([
      [ResultStatus.DONE, `reboot in 30s scheduled (${"systemd-run --unit=secarc-reboot-actreboot1 --on-active=30s --timer-property=AccuracySec=1s /usr/bin/systemctl reboot"})`],
      [ResultStatus.DONE, `reboot in 30s scheduled (${"systemd-run --unit=secarc-reboot-actreboot1 --on-active=30s --timer-property=AccuracySec=1s /usr/bin/systemctl reboot"})`],
    ]);
    first.stop();

    // The host reboots; the agent starts again and the controller redelivers the action.
    const second = startAgent("boot-2");
    expect(second.recovered).to.deep.equal([]);
    await second.executor.handle(reboot);
    expect(commands).to.have.length(1);
    expect(second.sent).to.have.length(1);
    expect(second.sent[0]!.status).to.equal(ResultStatus.DONE);
    expect(second.sent[0]!.actionId).to.equal("act-reboot-1");
    second.stop();
  });

  it("a reboot that took the agent down before its result was stored is reported done after boot, never run again", async () => {
    const reboot = action(Answer.REBOOT, undefined, { actionId: "act-reboot-2", delayMs: 0 });
    const first = startAgent("boot-1");
    // The journal records the action, the command runs, and the host goes down at once.
    expect(first.journal.begin(reboot)).to.equal(true);
    const power = createResponderSet(respondersConfigSchema.parse({}), {
      logger: silentLogger(),
      now: Date.now,
      controllerAddresses: [],
      stateDir: dir,
      runner: { run: async (c) => (commands.push(c), { code: 0, stdout: "", stderr: "" }) },
      hasSystemd: () => true,
    }).responders.get(Answer.REBOOT)!;
    await power.execute(reboot);
    first.stop();
    expect(commands.map((c) => [c.file, ...c.args].join(" "))).to.deep.equal(["systemctl reboot"]);

    const second = startAgent("boot-2");
    expect(second.recovered.map((r) => [r.actionId, r.status, r.detail])).to.deep.equal([["act-reboot-2", ResultStatus.DONE, "rebooted"]]);
    await second.executor.handle(reboot);
    expect(commands).to.have.length(1);
    expect(second.sent.map((r) => [r.actionId, r.status, r.detail])).to.deep.equal([["act-reboot-2", ResultStatus.DONE, "rebooted"]]);
    second.stop();
  });
});
