import type postgres from "postgres";

/** The pool, with BIGINT columns parsed to numbers (times in ms and counters stay far below 2^53). */
export type PgSql = postgres.Sql;
/** What a query runs on: the pool or a transaction. */
export type PgQuery = postgres.Sql | postgres.TransactionSql;

/** An interface's methods, each returning a promise (how the PostgreSQL store implements the Store). */
export type AsyncMethods<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};
