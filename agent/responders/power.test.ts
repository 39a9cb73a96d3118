import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Answer, ResponseActionSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { silentLogger } from "../../common/log.js";
import { powerConfigSchema } from "./config.js";
import { createRecordingRunner } from "./program-runner.js";
import { createPowerResponder } from "./power.js";

const act = (answer: Answer, delayMs?: number) =>
  create(ResponseActionSchema, { actionId: "01J-act.1", answer, options: delayMs === undefined ? {} : { delay: durationFromMs(delayMs) } });

describe("power responder (recording runner)", () => {
  it("schedules a reboot through systemd-run with the configured delay", async () => {
    const runner = createRecordingRunner();
    const power = createPowerResponder(powerConfigSchema.parse({}), { runner, logger: silentLogger(), dryRun: false, hasSystemd: () => true });
    const outcome = await power.execute(act(Answer.REBOOT));
    expect(runner.commands).to.deep.equal([
      { file: "systemd-run", args: ["--unit=secarc-reboot-01Jact1", "--on-active=60s", "--timer-property=AccuracySec=1s", "/usr/bin/systemctl", "reboot"] },
    ]);
    expect(outcome.status).to.equal(ResultStatus.DONE);
    expect(outcome.detail).to.match(/^reboot in 1m scheduled \(systemd-run /);
  });

  it("powers off at once with delay 0, and uses shutdown without systemd", async () => {
    const runner = createRecordingRunner();
    const systemd = createPowerResponder(powerConfigSchema.parse({ delay: 0 }), { runner, logger: silentLogger(), dryRun: false, hasSystemd: () => true });
    await systemd.execute(act(Answer.SHUTDOWN));
    const plain = createPowerResponder(powerConfigSchema.parse({}), { runner, logger: silentLogger(), dryRun: false, hasSystemd: () => false });
    await plain.execute(act(Answer.SHUTDOWN, 90_000));
    await plain.execute(act(Answer.REBOOT, 0));
    expect(runner.commands.map((c) => [c.file, ...c.args].join(" "))).to.deep.equal([
      "systemctl poweroff",
      "shutdown -h +2 SecARC: operator request",
      "shutdown -r now SecARC: operator request",
    ]);
  });

  it("reports a failed command, and runs nothing in dry run", async () => {
    const failing = createRecordingRunner(() => ({ code: 1, stdout: "", stderr: "Failed to connect to bus\n" }));
    const power = createPowerResponder(powerConfigSchema.parse({ delay: 0, method: "systemctl" }), { runner: failing, logger: silentLogger(), dryRun: false });
    expect(await power.execute(act(Answer.REBOOT))).to.deep.equal({ status: ResultStatus.FAILED, detail: "reboot now failed: systemctl reboot failed (exit 1): Failed to connect to bus" });
    const quiet = createRecordingRunner();
    const dry = createPowerResponder(powerConfigSchema.parse({ method: "shutdown" }), { runner: quiet, logger: silentLogger(), dryRun: true });
    expect(await dry.execute(act(Answer.REBOOT))).to.deep.equal({ status: ResultStatus.DONE, dryRun: true, detail: "dry run: would reboot in 1m: shutdown -r +1 'SecARC: operator request'" });
    const fiveSeconds = createPowerResponder(powerConfigSchema.parse({ delay: "5s", method: "shutdown" }), { runner: quiet, logger: silentLogger(), dryRun: true });
    // shutdown counts whole minutes: the text says what the command will do, not what was asked
    expect((await fiveSeconds.execute(act(Answer.REBOOT))).detail).to.equal("dry run: would reboot in 1m: shutdown -r +1 'SecARC: operator request'");
    expect(quiet.commands).to.deep.equal([]);
    expect((await dry.execute(act(Answer.BLOCK_IP))).status).to.equal(ResultStatus.REFUSED);
  });
});
