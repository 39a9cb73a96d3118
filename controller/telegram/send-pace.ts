/**
 * Telegram's flood limits, computed from the times of past sends (no timer
 * per chat): at most one message per `perChatMs` to a chat, `perGroupPerMinute`
 * to a group (negative chat id) in any 60 s, and `globalPerSecond` overall in
 * any second. HTTP 429 answers pause everything until their retry_after.
 */
export interface PaceLimits {
  perChatMs: number;
  perGroupPerMinute: number;
  globalPerSecond: number;
}

export interface SendPace {
  /** The earliest time a message may go to `chatId` (≤ now means: now). */
  nextAllowed(chatId: number, now: number): number;
  /** Records a send (or edit) to a chat. */
  record(chatId: number, now: number): void;
  /** Pauses all sends until `until` (from a 429's retry_after). */
  pauseUntil(until: number): void;
}

export function createSendPace(limits: PaceLimits): SendPace {
  const perChat = new Map<number, number[]>();
  const global: number[] = [];
  let pausedUntil = 0;

  function prune(times: number[], horizon: number): void {
    let drop = 0;
    while (drop < times.length && times[drop]! <= horizon) drop++;
    if (drop > 0) times.splice(0, drop);
  }

  return {
    nextAllowed(chatId, now) {
      let at = Math.max(now, pausedUntil);
      prune(global, now - 1000);
      if (global.length >= limits.globalPerSecond) at = Math.max(at, global[global.length - limits.globalPerSecond]! + 1000);
      const times = perChat.get(chatId);
      if (times && times.length > 0) {
        prune(times, now - 60_000);
        const last = times[times.length - 1];
        if (last !== undefined) at = Math.max(at, last + limits.perChatMs);
        if (chatId < 0 && times.length >= limits.perGroupPerMinute) at = Math.max(at, times[times.length - limits.perGroupPerMinute]! + 60_000);
      }
      return at;
    },
    record(chatId, now) {
      global.push(now);
      const times = perChat.get(chatId) ?? [];
      times.push(now);
      perChat.set(chatId, times);
    },
    pauseUntil(until) {
      pausedUntil = Math.max(pausedUntil, until);
    },
  };
}
