import type { Logger } from "../../common/log.js";
import type { ControllerConfig } from "../config.js";
import { openPostgresStore, type PostgresStore } from "./postgres-store.js";
import { openSqliteStore, type SqliteStore } from "./sqlite-store.js";
import { createStoreHealth, type StoreHealth } from "./store-health.js";

/** The store the config names, with its health watch. */
export type OpenedStore =
  | { kind: "sqlite"; store: SqliteStore; health: StoreHealth; where: string }
  | { kind: "postgres"; store: PostgresStore; health: StoreHealth; where: string };

/**
 * Opens `store.postgres` when set, else the SQLite file at `store.path`
 * (`init`: accept a 0-byte file as new). A SQLite store that opens but
 * cannot be written yet (disk full) starts with its health failing; a
 * PostgreSQL server that cannot be reached refuses the start, as an
 * unreadable SQLite file does (the service manager retries).
 */
export async function openControllerStore(config: ControllerConfig["store"], options: { init: boolean; now: () => number; logger: Logger }): Promise<OpenedStore> {
  const { now, logger } = options;
  if (config.postgres) {
    const store = await openPostgresStore({ url: config.postgres.url, poolSize: config.postgres.poolSize });
    logger.info({ store: store.where, poolSize: config.postgres.poolSize }, "store: PostgreSQL");
    return { kind: "postgres", store, health: createStoreHealth({ path: undefined, where: store.where, logger, now }), where: store.where };
  }
  const store = openSqliteStore(config.path, { init: options.init, now });
  const health = createStoreHealth({ path: config.path, logger, now });
  if (store.startWriteError) health.failed(store.startWriteError, "start");
  return { kind: "sqlite", store, health, where: config.path };
}
