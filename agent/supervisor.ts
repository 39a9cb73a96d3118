import type { Alert } from "../gen/secarc/v1/alert_pb.js";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import type { Detector, DetectorContext } from "./detectors/detector.js";
import { createBackoff, type Backoff } from "./link/backoff.js";

/** How one detector is doing, for logs and status. */
export interface DetectorStatus {
  name: string;
  state: "starting" | "running" | "restarting" | "stopped";
  /** Failures since the agent started. */
  failures: number;
  lastError?: string;
}

/**
 * Runs the detectors: starts each with a DetectorContext whose `emit` hands
 * alerts to the agent (outbox first), and restarts a detector that fails
 * (its `start` rejects, or it calls `onFailure`) after a capped, jittered
 * backoff. A detector that ran `healthyAfterMs` before failing starts over
 * from the initial backoff. Detectors never retry by themselves.
 */
export interface DetectorSupervisor {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): DetectorStatus[];
}

export interface DetectorSupervisorDeps {
  detectors: readonly Detector[];
  /** Where alerts go (the agent's durable emit). */
  emit(alert: Alert): void;
  logger: Logger;
  now: () => number;
  /** First restart delay bound. Default: 1000 ms. */
  restartInitialMs?: number;
  /** Longest restart delay. Default: 60000 ms. */
  restartMaxMs?: number;
  /** A detector that ran this long before failing is considered healthy again. Default: 60000 ms. */
  healthyAfterMs?: number;
}

interface Slot {
  detector: Detector;
  status: DetectorStatus;
  backoff: Backoff;
  /** Increases with every (re)start, so that late failures of an older run are ignored. */
  generation: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

export function createDetectorSupervisor(deps: DetectorSupervisorDeps): DetectorSupervisor {
  const { logger, now } = deps;
  const healthyAfterMs = deps.healthyAfterMs ?? 60_000;
  let stopping = false;
  const slots: Slot[] = deps.detectors.map((detector) => ({
    detector,
    status: { name: detector.name, state: "stopped", failures: 0 },
    backoff: createBackoff({ initialMs: deps.restartInitialMs ?? 1_000, maxMs: deps.restartMaxMs ?? 60_000 }),
    generation: 0,
    startedAt: 0,
  }));

  const launch = async (slot: Slot): Promise<void> => {
    if (stopping) return;
    const generation = ++slot.generation;
    const log = logger.child({ detector: slot.detector.name });
    const context: DetectorContext = {
      emit(alert) {
        try {
          deps.emit(alert);
        } catch (err) {
          log.error({ err: describeError(err), alertId: alert.id }, "alert not accepted");
        }
      },
      onFailure: (err) => failed(slot, generation, err),
      logger: log,
      now,
    };
    slot.status.state = "starting";
    slot.startedAt = now();
    try {
      await slot.detector.start(context);
      if (slot.generation === generation && slot.status.state === "starting") {
        slot.status.state = "running";
        log.info({ kinds: slot.detector.kinds }, "detector running");
      }
    } catch (err) {
      failed(slot, generation, err);
    }
  };

  const failed = (slot: Slot, generation: number, err: unknown): void => {
    if (stopping || slot.generation !== generation || slot.status.state === "restarting") return;
    slot.status.failures += 1;
    slot.status.lastError = describeError(err);
    slot.status.state = "restarting";
    if (now() - slot.startedAt >= healthyAfterMs) slot.backoff.reset();
    const delay = slot.backoff.next();
    logger.error(
      { detector: slot.detector.name, err: slot.status.lastError, failures: slot.status.failures, restartInMs: delay },
      "detector failed; restarting",
    );
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      void stopQuietly(slot, logger, "stopping a failed detector failed").then(() => launch(slot));
    }, delay);
  };

  return {
    async start() {
      await Promise.all(slots.map((slot) => launch(slot)));
    },
    async stop() {
      stopping = true;
      await Promise.all(
        slots.map(async (slot) => {
          if (slot.timer) clearTimeout(slot.timer);
          slot.generation += 1;
          slot.status.state = "stopped";
          await stopQuietly(slot, logger, "detector did not stop cleanly");
        }),
      );
    },
    status: () => slots.map((slot) => ({ ...slot.status })),
  };
}

/** Stops a slot's detector; a failure to stop is logged as `what`, never thrown. */
async function stopQuietly(slot: Slot, logger: Logger, what: string): Promise<void> {
  try {
    await slot.detector.stop();
  } catch (err) {
    logger.warn({ detector: slot.detector.name, err: describeError(err) }, what);
  }
}
