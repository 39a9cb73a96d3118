import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { createVoiceSwitch } from "./voice-switch.js";

describe("voice switch", () => {
  const recorder = (failFirst = false) => {
    const log: string[] = [];
    let attempts = 0;
    const voice = createVoiceSwitch<string>({
      logger: silentLogger(),
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
});
