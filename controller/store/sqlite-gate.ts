import { AsyncLocalStorage } from "node:async_hooks";
import type { Database as SqliteDatabase } from "better-sqlite3";
import { SecarcError } from "../../common/errors.js";

/**
 * The order of calls on the store's one SQLite connection. better-sqlite3
 * runs every statement synchronously, so a call outside a transaction is
 * done (and, with synchronous = FULL, durable) before its promise resolves.
 * While a transaction is open — `fn` may await between its writes — every
 * other call waits in line, in arrival order, and runs after the COMMIT:
 * nothing outside the transaction is mixed into it or sees it half done.
 *
 * A call on the store itself (not through the transaction's token) from
 * inside `fn` would wait for the transaction, which waits for it. With
 * `checkNesting` such a call is refused: the gate then follows `fn`'s async
 * context with an AsyncLocalStorage. That costs every promise of the
 * process a hook call (Node 20), about 8 % of the controller's CPU while
 * it stores thousands of alerts a second (docs/performance.md), so the
 * controller runs without it; the test run turns it on for every store
 * (SECARC_STORE_CHECK_NESTING=1, test/support/test-env.cjs), controllers in
 * child processes included, so a test meets such a call as an error.
 */
export interface SqliteGate {
  /** Runs `op` now, or after the open transaction (and those queued before it) ends. */
  call<T>(op: () => T): Promise<T>;
  /**
   * Runs `fn` between BEGIN and COMMIT (ROLLBACK when it rejects or the
   * COMMIT fails). `fn` gets a token; `callIn(token, op)` runs `op` inside.
   */
  transaction<T>(fn: (token: object) => Promise<T>): Promise<T>;
  /** Runs `op` inside the transaction of `token`; refuses when that transaction is over. */
  callIn<T>(token: object, op: () => T): Promise<T>;
}

const settle = <T>(op: () => T, resolve: (value: T) => void, reject: (err: unknown) => void): void => {
  try {
    resolve(op());
  } catch (err) {
    reject(err);
  }
};

export interface SqliteGateOptions {
  /** Refuse a store call (or transaction) made from inside a transaction's `fn` instead of letting it wait for itself. Default: false. */
  checkNesting?: boolean;
}

export function createSqliteGate(db: SqliteDatabase, options: SqliteGateOptions = {}): SqliteGate {
  const inside = options.checkNesting ? new AsyncLocalStorage<object>() : undefined;
  let open: object | undefined;
  const waiting: Array<() => void> = [];

  const drain = (): void => {
    while (!open && waiting.length > 0) waiting.shift()!();
  };
  const end = (sql: "COMMIT" | "ROLLBACK"): void => {
    try {
      db.exec(sql);
    } finally {
      if (db.inTransaction) db.exec("ROLLBACK");
    }
  };

  const start = <T>(fn: (token: object) => Promise<T>, resolve: (value: T) => void, reject: (err: unknown) => void): void => {
    const token = {};
    try {
      db.exec("BEGIN");
    } catch (err) {
      reject(err);
      return;
    }
    open = token;
    let running: Promise<T>;
    try {
      running = inside ? inside.run(token, () => fn(token)) : fn(token);
    } catch (err) {
      running = Promise.reject(err);
    }
    const finish = (sql: "COMMIT" | "ROLLBACK", settleIt: () => void): void => {
      try {
        end(sql);
        settleIt();
      } catch (err) {
        reject(err);
      } finally {
        open = undefined;
        drain();
      }
    };
    running.then(
      (value) => finish("COMMIT", () => resolve(value)),
      (err: unknown) => finish("ROLLBACK", () => reject(err)),
    );
  };

  return {
    call<T>(op: () => T): Promise<T> {
      if (open && inside?.getStore() === open) {
        return Promise.reject(new SecarcError("internal", "a store call inside transaction() must go through its tx argument (the store waits for the transaction)"));
      }
      return new Promise<T>((resolve, reject) => {
        if (open) waiting.push(() => settle(op, resolve, reject));
        else settle(op, resolve, reject);
      });
    },
    transaction<T>(fn: (token: object) => Promise<T>): Promise<T> {
      if (open && inside?.getStore() === open) return Promise.reject(new SecarcError("internal", "transaction() inside a transaction: use its tx argument"));
      return new Promise<T>((resolve, reject) => {
        if (open) waiting.push(() => start(fn, resolve, reject));
        else start(fn, resolve, reject);
      });
    },
    callIn<T>(token: object, op: () => T): Promise<T> {
      if (open !== token) return Promise.reject(new SecarcError("internal", "a transaction's tx was used after the transaction ended"));
      return new Promise<T>((resolve, reject) => settle(op, resolve, reject));
    },
  };
}
