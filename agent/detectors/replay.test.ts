import { expect } from "chai";
import { AGENT_KIND_ENTRIES } from "./catalog.js";
import { isReplayDetector, REPLAY_DETECTORS } from "./replay.js";

describe("replay detectors", () => {
  it("are the catalog's log detectors, in its kind order", () => {
    const logDetectors = AGENT_KIND_ENTRIES.filter((entry) => entry.logDetector).map((entry) => entry.detector);
    expect(REPLAY_DETECTORS).to.deep.equal(logDetectors);
    expect(REPLAY_DETECTORS).to.include("nginx-404");
  });

  it("knows only those names", () => {
    expect(isReplayDetector("nginx-404")).to.equal(true);
    expect(isReplayDetector("cpu-sustained")).to.equal(false);
    expect(isReplayDetector("toString")).to.equal(false);
  });
});
