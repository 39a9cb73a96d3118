import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";

/**
 * Runs a part only while this replica holds a lease: the Telegram bridge
 * (polling getUpdates, sending and editing) starts when the Telegram lease
 * is acquired and stops when it is lost. Transitions run one at a time in
 * the order they were asked for; a loss while the part is still starting
 * stops it right after the start. A start that fails is logged and tried
 * again at the next acquisition (the lease keeps renewing meanwhile, so
 * the others stay silent: a voice that cannot speak is an operator's
 * problem, shown by the bridge's own state, not a reason to hand over).
 * A config reload starts the part again in place (`restart`): the lease
 * did not move, and the log says so only when it did.
 */
export interface VoiceSwitchOptions<T> {
  logger: Logger;
  /** What the part is called in logs: "Telegram bridge". */
  name: string;
  start(epoch: number): Promise<T>;
  stop(part: T): Promise<void>;
}

export interface VoiceSwitch<T> {
  /** The lease's onAcquired, or TelegramVoice.follow with an epoch. */
  acquired(epoch: number): void;
  /** The lease's onLost, or TelegramVoice.follow with undefined. */
  lost(): void;
  /**
   * Stops the running part and starts it again under the lease this replica
   * holds (a config reload: `start` reads the new config); starts it if an
   * earlier start failed. Nothing while another replica speaks. Resolves
   * when done.
   */
  restart(): Promise<void>;
  /** The running part, if any. */
  current(): T | undefined;
  /** Resolves when every transition asked for so far has run. */
  settled(): Promise<void>;
  /** Stops the part for good (controller stop). */
  close(): Promise<void>;
}

export function createVoiceSwitch<T>(options: VoiceSwitchOptions<T>): VoiceSwitch<T> {
  const { logger, name } = options;
  let part: T | undefined;
  /** The epoch of the lease as the transitions run so far left it: undefined while another replica speaks. */
  let holding: number | undefined;
  let chain = Promise.resolve();
  let closed = false;

  const then = (step: () => Promise<void>) => {
    chain = chain.then(step).catch((err: unknown) => logger.error({ err: describeError(err) }, `${name}: switching failed`));
  };
  /** Stops the part, if one runs; returns whether one did. */
  const stopPart = async (): Promise<boolean> => {
    if (part === undefined) return false;
    const running = part;
    part = undefined;
    await options.stop(running);
    return true;
  };
  const startPart = async (epoch: number, started: string, failed: string) => {
    try {
      part = await options.start(epoch);
      logger.info({ epoch }, `${name} ${started}`);
    } catch (err) {
      logger.error({ epoch, err: describeError(err) }, `${name} ${failed}`);
    }
  };

  return {
    acquired(epoch) {
      then(async () => {
        if (closed) return;
        holding = epoch;
        if (part !== undefined) return;
        await startPart(epoch, "started: this replica speaks", "could not start; tried again at the next acquisition or reload");
      });
    },
    lost: () =>
      then(async () => {
        holding = undefined;
        if (await stopPart()) logger.info(`${name} stopped: another replica speaks now`);
      }),
    restart() {
      then(async () => {
        if (closed) return;
        await stopPart();
        if (holding === undefined) return;
        await startPart(holding, "started again with the new config (this replica still speaks)", "could not start again; tried again at the next acquisition or reload");
      });
      return chain;
    },
    current: () => part,
    settled: () => chain,
    async close() {
      closed = true;
      then(async () => {
        holding = undefined;
        if (await stopPart()) logger.info(`${name} stopped`);
      });
      await chain;
    },
  };
}
