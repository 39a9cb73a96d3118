import type postgres from "postgres";
import type { StoreOperations } from "./store.js";

/** The pool, with BIGINT columns parsed to numbers (times in ms and counters stay far below 2^53). */
export type PgSql = postgres.Sql;
/** What a query runs on: the pool, a transaction or a savepoint. */
export type PgQuery = postgres.Sql | postgres.TransactionSql;

/** What the Store does (every method returns a promise), inside a transaction or on its own. */
export type PgStoreOperations = StoreOperations;

/**
 * One Store operation on PostgreSQL: `run` does it on whatever it is given;
 * `atomic` says it writes with more than one statement, so that on the pool
 * it runs in a transaction of its own.
 */
export interface PgOperation<F> {
  atomic: boolean;
  run: F extends (...args: infer A) => infer R ? (q: PgQuery, ...args: A) => R : never;
}

/** A table of operations for some of the Store's methods. */
export type PgOperations<K extends keyof PgStoreOperations> = { [N in K]: PgOperation<PgStoreOperations[N]> };
