import type { Logger } from "../../common/log.js";

/** A chat whose sends are parked: Telegram refused the chat itself (bot blocked, removed, no rights). */
export interface ParkedChat {
  chatId: number;
  since: number;
  /** Telegram's refusal, in words ("Telegram answered 403: Forbidden: bot was blocked by the user"). */
  reason: string;
  /** When one waiting job is tried again (a success resumes the chat). */
  retryAt: number;
}

/**
 * Parked chats. When Telegram refuses a chat itself (403, "chat not found",
 * no rights), its jobs are kept, not dropped: the chat's queue waits, one job
 * is retried every `retryMs`, and the chat resumes on the next success or on
 * any update from it (someone says /start there, the bot is added back). The
 * other chats go on. Logged once on parking and once on resuming; /status and
 * the metrics show which chats are parked and why.
 */
export interface ChatParking {
  park(chatId: number, reason: string): void;
  /** Resumes a parked chat; returns whether it was parked. */
  resume(chatId: number, why: "success" | "update"): boolean;
  /** Whether the chat's jobs wait now (parked and not yet due for its retry). */
  holds(chatId: number, now: number): boolean;
  /** The earliest retry time among parked chats. */
  nextRetry(): number | undefined;
  list(): ParkedChat[];
}

export function createChatParking(deps: { retryMs: number; logger: Logger; now: () => number; onChange?: (parked: number) => void }): ChatParking {
  const { retryMs, logger, now } = deps;
  const parked = new Map<number, ParkedChat>();
  return {
    park(chatId, reason) {
      const at = now();
      const existing = parked.get(chatId);
      if (existing) {
        existing.reason = reason;
        existing.retryAt = at + retryMs;
        return;
      }
      parked.set(chatId, { chatId, since: at, reason, retryAt: at + retryMs });
      logger.warn({ chatId, reason, retryInMs: retryMs }, `telegram: chat ${chatId} refused by Telegram; its messages wait (kept, not dropped) until /start there or a retry succeeds`);
      deps.onChange?.(parked.size);
    },
    resume(chatId, why) {
      const entry = parked.get(chatId);
      if (!entry) return false;
      parked.delete(chatId);
      logger.info({ chatId, parkedForMs: now() - entry.since, why }, `telegram: chat ${chatId} reachable again (${why === "success" ? "a retry succeeded" : "an update came from it"}); its messages go out`);
      deps.onChange?.(parked.size);
      return true;
    },
    holds(chatId, at) {
      const entry = parked.get(chatId);
      return entry !== undefined && entry.retryAt > at;
    },
    nextRetry() {
      let at: number | undefined;
      for (const entry of parked.values()) at = at === undefined ? entry.retryAt : Math.min(at, entry.retryAt);
      return at;
    },
    list: () => [...parked.values()],
  };
}
