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
  let chain = Promise.resolve();
  let closed = false;

  const then = (step: () => Promise<void>) => {
    chain = chain.then(step).catch((err: unknown) => logger.error({ err: describeError(err) }, `${name}: switching failed`));
  };
  const stopPart = async () => {
    if (part === undefined) return;
    const running = part;
    part = undefined;
    await options.stop(running);
    logger.info(`${name} stopped: another replica speaks now`);
  };

  return {
    acquired(epoch) {
      then(async () => {
        if (closed || part !== undefined) return;
        try {
          part = await options.start(epoch);
          logger.info({ epoch }, `${name} started: this replica speaks`);
        } catch (err) {
          logger.error({ epoch, err: describeError(err) }, `${name} could not start; tried again at the next acquisition`);
        }
      });
    },
    lost: () => then(stopPart),
    current: () => part,
    settled: () => chain,
    async close() {
      closed = true;
      then(stopPart);
      await chain;
    },
  };
}
