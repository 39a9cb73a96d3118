import type { Context, Middleware, Telegraf } from "telegraf";
import { SecarcError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";

/**
 * What the bridge of one controller replica among several needs of the
 * Telegram lease (controller/replicas/replica-coordination.ts): the bridge
 * runs only while its replica holds the lease (the voice switch starts and
 * stops it), checks before every Bot API call that it still does, and
 * handles each update once across replicas and lease changes.
 */
export interface BridgeVoice {
  /** The lease epoch this bridge was started for. */
  readonly epoch: number;
  /** The epoch while this replica holds the lease; undefined once it lost it. */
  speaking(): number | undefined;
  /** Runs `handle` unless a replica has handled update `updateId` (TelegramVoice.handleUpdate). */
  handleUpdate(updateId: number, handle: () => Promise<void>): Promise<boolean>;
  /**
   * Webhook mode: every replica serves the webhook and stores the updates
   * (controller/replicas/webhook-inbox.ts); the voice handles them from
   * there, and the bot only registers the webhook with Telegram.
   */
  consumeInbox?(handle: (update: { update_id: number }) => Promise<void>): Promise<{ stop(): Promise<void> }>;
}

/** Throws a "fenced" error unless this bridge's replica still holds the lease at its epoch: the last check before each Bot API call. */
export function fenceCalls(voice: BridgeVoice | undefined): () => void {
  if (!voice) return () => {};
  return () => {
    if (voice.speaking() !== voice.epoch) throw new SecarcError("fenced", `not sent: this replica no longer holds the Telegram lease (epoch ${voice.epoch})`);
  };
}

/** Updates handled at once on a replica: each holds a store connection while it runs. */
const UPDATES_AT_ONCE = 2;

/**
 * The bridge's first middleware on a replica: every update (a tap, a
 * command) is handled at most once across replicas, however often
 * getUpdates or a webhook hands it out, and only while this replica speaks.
 */
export function oncePerUpdate(voice: BridgeVoice, logger: Logger): Middleware<Context> {
  const gate = createGate(UPDATES_AT_ONCE);
  return (ctx, next) =>
    gate(async () => {
      const updateId = ctx.update.update_id;
      fenceCalls(voice)();
      const handled = await voice.handleUpdate(updateId, () => next());
      if (!handled) logger.info({ updateId }, "telegram: update already handled by a replica; skipped");
    });
}

/** Runs at most `limit` tasks at once, the others in the order they came. */
function createGate(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await task();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}

/**
 * Every Bot API call of `bot` (getUpdates and getMe included: the poller
 * stops before it confirms updates it may no longer handle) first checks
 * that this replica still holds the lease.
 */
export function fenceBotApi(bot: Telegraf, voice: BridgeVoice): void {
  const check = fenceCalls(voice);
  const telegram = bot.telegram;
  const callApi = telegram.callApi.bind(telegram);
  telegram.callApi = ((...args: Parameters<typeof callApi>) => {
    check();
    return callApi(...args);
  }) as typeof telegram.callApi;
}
