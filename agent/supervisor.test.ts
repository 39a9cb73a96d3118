import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { AlertKind, AlertSchema, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { silentLogger } from "../common/log.js";
import type { Detector, DetectorContext } from "./detectors/detector.js";
import { createDetectorSupervisor } from "./supervisor.js";

/** A detector driven by the test: it records starts/stops and exposes its context. */
function scriptedDetector(name: string, failStarts = 0): Detector & { starts: number; stops: number; context?: DetectorContext } {
  const detector = {
    name,
    kinds: [AlertKind.CPU_SUSTAINED],
    starts: 0,
    stops: 0,
    context: undefined as DetectorContext | undefined,
    async start(context: DetectorContext) {
      detector.starts += 1;
      detector.context = context;
      if (detector.starts <= failStarts) throw new Error(`start ${detector.starts} failed`);
    },
    async stop() {
      detector.stops += 1;
    },
  };
  return detector;
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("detector supervisor", () => {
  it("starts detectors and passes their alerts to emit", async () => {
    const emitted: Alert[] = [];
    const detector = scriptedDetector("cpu");
    const supervisor = createDetectorSupervisor({ detectors: [detector], emit: (a) => emitted.push(a), logger: silentLogger(), now: Date.now });
    await supervisor.start();
    expect(supervisor.status()).to.deep.equal([{ name: "cpu", state: "running", failures: 0 }]);
    detector.context!.emit(create(AlertSchema, { id: "x", revision: 1, kind: AlertKind.CPU_SUSTAINED }));
    expect(emitted.map((a) => a.id)).to.deep.equal(["x"]);
    await supervisor.stop();
    expect(detector.stops).to.equal(1);
    expect(supervisor.status()[0]!.state).to.equal("stopped");
  });

  it("restarts a detector whose start fails, with backoff, and counts failures", async () => {
    const detector = scriptedDetector("flaky", 2);
    const supervisor = createDetectorSupervisor({ detectors: [detector], emit: () => undefined, logger: silentLogger(), now: Date.now, restartInitialMs: 20, restartMaxMs: 40 });
    await supervisor.start();
    await until(() => supervisor.status()[0]!.state === "running");
    expect(detector.starts).to.equal(3);
    expect(supervisor.status()[0]!.failures).to.equal(2);
    expect(supervisor.status()[0]!.lastError).to.equal("start 2 failed");
    await supervisor.stop();
  });

  it("restarts a running detector that reports a failure, once per failure", async () => {
    const detector = scriptedDetector("follower");
    const supervisor = createDetectorSupervisor({ detectors: [detector], emit: () => undefined, logger: silentLogger(), now: Date.now, restartInitialMs: 10, restartMaxMs: 10 });
    await supervisor.start();
    const first = detector.context!;
    first.onFailure(new Error("log vanished"));
    first.onFailure(new Error("reported twice"));
    await until(() => detector.starts === 2 && supervisor.status()[0]!.state === "running");
    first.onFailure(new Error("late failure of the old run"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(detector.starts).to.equal(2);
    expect(supervisor.status()[0]!.failures).to.equal(1);
    await supervisor.stop();
  });

  it("keeps running when emit throws", async () => {
    const detector = scriptedDetector("cpu");
    const supervisor = createDetectorSupervisor({
      detectors: [detector],
      emit: () => {
        throw new Error("disk full");
      },
      logger: silentLogger(),
      now: Date.now,
    });
    await supervisor.start();
    expect(() => detector.context!.emit(create(AlertSchema, { id: "y" }))).not.to.throw();
    expect(supervisor.status()[0]!.state).to.equal("running");
    await supervisor.stop();
  });
});
