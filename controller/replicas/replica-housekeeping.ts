import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { PgSql } from "../store/postgres-types.js";
import type { TelegramUpdateLog } from "./telegram-updates.js";

/**
 * Keeps the replicas' own tables from growing without end: every start of
 * a controller process adds a row to `replicas`, and every Telegram update
 * handled adds one to `telegram_updates`. Every `everyMs` (and once at
 * start) each replica deletes
 *
 * - rows of replicas that stopped or were reaped and have not beaten for
 *   `keepMs` (a reaped replica that comes back after that finds its row
 *   gone and beats on as a fresh member, replica-heartbeat.ts);
 * - update_ids handled more than `keepMs` ago (Telegram keeps an update
 *   for 24 h, so none older comes again).
 *
 * Several replicas doing it at once is harmless: each row goes once.
 */
export interface ReplicaHousekeepingOptions {
  sql: PgSql;
  logger: Logger;
  updates: TelegramUpdateLog;
  /** How often to prune. Default: 1 hour. */
  everyMs?: number;
  /** How long rows are kept. Default: 1 day (above Telegram's 24 h). */
  keepMs?: number;
}

export interface ReplicaHousekeeping {
  /** Prunes now (the timer does this every everyMs); how many rows of each table went. */
  prune(): Promise<{ replicas: number; updates: number }>;
  stop(): Promise<void>;
}

export const HOUSEKEEPING_EVERY_MS = 3_600_000;
export const HOUSEKEEPING_KEEP_MS = 86_400_000;

export function startReplicaHousekeeping(options: ReplicaHousekeepingOptions): ReplicaHousekeeping {
  const { sql, logger, updates } = options;
  const keepMs = options.keepMs ?? HOUSEKEEPING_KEEP_MS;
  let running: Promise<{ replicas: number; updates: number }> | undefined;

  async function pruneNow(): Promise<{ replicas: number; updates: number }> {
    const gone = await sql`DELETE FROM replicas
      WHERE (stopped_at IS NOT NULL OR reaped_at IS NOT NULL) AND heartbeat_at < secarc_now_ms() - ${keepMs} RETURNING replica_id`;
    const pruned = { replicas: gone.length, updates: await updates.prune(sql, keepMs) };
    if (pruned.replicas + pruned.updates > 0) logger.info({ ...pruned, keepMs }, "pruned the rows of stopped replicas and handled Telegram updates older than keepMs");
    return pruned;
  }

  const prune = () => (running ??= pruneNow().finally(() => (running = undefined)));
  const sweep = () => void prune().catch((err: unknown) => logger.warn({ err: describeError(err) }, "pruning the replicas' tables failed; retried at the next sweep"));
  sweep();
  const timer = setInterval(sweep, options.everyMs ?? HOUSEKEEPING_EVERY_MS);
  timer.unref();

  return {
    prune,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
