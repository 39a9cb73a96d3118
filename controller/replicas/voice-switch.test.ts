import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { captureLog } from "../../test/support/controller-harness.js";
import { createVoiceSwitch } from "./voice-switch.js";

describe("voice switch", () => {
  const recorder = (failFirst = false, logger = silentLogger()) => {
    const log: string[] = [];
    let attempts = 0;
    const voice = createVoiceSwitch<string>({
      logger,
      name: "bridge",
      async start(epoch) {
        attempts += 1;
        await new Promise((resolve) => setImmediate(resolve));
        if (failFirst && attempts === 1) throw new Error("no token");
        log.push(`start ${epoch}`);
        return `bridge@${epoch}`;
      },
      async stop(part) {
        log.push(`stop ${part}`);
      },
    });
    return { voice, log };
  };

  it("starts on acquisition and stops on loss, in order, even when the loss comes while it is starting", async () => {
    const { voice, log } = recorder();
    voice.acquired(1);
    voice.lost();
    voice.acquired(3);
    await voice.settled();
    expect(log).to.deep.equal(["start 1", "stop bridge@1", "start 3"]);
    expect(voice.current()).to.equal("bridge@3");
    voice.acquired(3); // a renewal's repeat: nothing
    await voice.close();
    expect(log).to.deep.equal(["start 1", "stop bridge@1", "start 3", "stop bridge@3"]);
    voice.acquired(4);
    await voice.settled();
    expect(voice.current()).to.equal(undefined);
  });

  it("a start that fails is tried again at the next acquisition", async () => {
    const { voice, log } = recorder(true);
    voice.acquired(1);
    await voice.settled();
    expect(voice.current()).to.equal(undefined);
    voice.lost();
    voice.acquired(2);
    await voice.settled();
    expect(log).to.deep.equal(["start 2"]);
  });

  it("a restart (config reload) starts the part again under the lease it holds, starts one whose start failed, and does nothing on standby or after a loss; only a real move is logged as one", async () => {
    const captured = captureLog();
    const { voice, log } = recorder(true, captured.logger);
    await voice.restart(); // standby: nothing
    voice.acquired(1); // fails
    await voice.restart(); // tried again now
    expect(log).to.deep.equal(["start 1"]);
    await voice.restart();
    expect(log).to.deep.equal(["start 1", "stop bridge@1", "start 1"]);
    voice.lost();
    const afterLoss = voice.restart();
    await afterLoss;
    expect(log).to.deep.equal(["start 1", "stop bridge@1", "start 1", "stop bridge@1"]);
    expect(voice.current()).to.equal(undefined);
    voice.acquired(2);
    await voice.settled();
    await voice.close();
    const said = captured.lines.map((line) => String(line.msg));

    expect(said.filter((msg) => msg.includes("another replica speaks now"))).to.have.length(1);
    expect(said.filter((msg) => msg.includes("this replica speaks"))).to.have.length(1);
    expect(said.filter((msg) => msg.includes("started again with the new config"))).to.have.length(2);
    expect(said.at(-1)).to.equal("bridge stopped");
  });
});
