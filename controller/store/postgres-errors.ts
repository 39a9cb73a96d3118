/**
 * PostgreSQL errors that make the store unwritable for now, like SQLite's
 * SQLITE_FULL or SQLITE_IOERR (storage-errors.ts): the server is out of
 * disk, shutting down, or cannot be reached. The same write succeeds once it
 * is back, so they are a state of the store, not a reason to crash. Codes
 * are SQLSTATEs (class 08 connection, 53 insufficient resources, 57P
 * operator intervention, 58 system error) and the client's own connection
 * codes.
 */
const SQLSTATE = /^(08|53|57P|58)/;
const CLIENT_CODES = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE"]);

/** The PostgreSQL (or connection) code of a storage error, or undefined for any other error. */
export function postgresStorageCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    const isPostgres = (e as { name?: unknown }).name === "PostgresError";
    if ((isPostgres && SQLSTATE.test(code)) || CLIENT_CODES.has(code)) return code;
  }
  return undefined;
}

/** What kind of trouble, in the words operators see. */
export function postgresTrouble(code: string): string {
  if (code === "53100") return "store full";
  if (code.startsWith("53")) return "store out of resources";
  if (code.startsWith("57P")) return "store shutting down";
  return "store unreachable";
}
