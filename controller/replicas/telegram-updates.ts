import type { PgQuery } from "../store/postgres-types.js";

/**
 * The Telegram update_ids already handled (table `telegram_updates`), shared
 * by the replicas: a new holder of the Telegram lease gets from getUpdates
 * whatever the old one had not confirmed yet, and in webhook mode Telegram
 * retries an update to whichever replica answers; both are handled once.
 *
 * `claim` inside the transaction that stores the update's effect (the tap's
 * action) makes it exactly-once: if the replica dies before the commit,
 * neither the mark nor the effect is there and the next one handles it.
 */
export interface TelegramUpdateLog {
  /** True for the first claim of `updateId` (handle it), false when some replica did (skip it). */
  claim(q: PgQuery, updateId: number): Promise<boolean>;
  /** Forgets update_ids handled more than `olderThanMs` ago (Telegram keeps updates 24 h). Returns how many. */
  prune(q: PgQuery, olderThanMs: number): Promise<number>;
}

export function createTelegramUpdateLog(replicaId: string): TelegramUpdateLog {
  return {
    async claim(q, updateId) {
      if (!Number.isSafeInteger(updateId) || updateId < 0) throw new RangeError(`not a Telegram update_id: ${updateId}`);
      const rows = await q`INSERT INTO telegram_updates (update_id, handled_at, replica_id) VALUES (${updateId}, secarc_now_ms(), ${replicaId})
        ON CONFLICT (update_id) DO NOTHING RETURNING update_id`;
      return rows.length === 1;
    },
    async prune(q, olderThanMs) {
      const rows = await q`DELETE FROM telegram_updates WHERE handled_at < secarc_now_ms() - ${olderThanMs} RETURNING update_id`;
      return rows.length;
    },
  };
}
