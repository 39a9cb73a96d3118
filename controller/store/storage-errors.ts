import { postgresStorageCode, postgresTrouble } from "./postgres-errors.js";

/**
 * SQLite errors that say the store cannot be written now, though nothing
 * is wrong with what was written: the disk is full, an I/O error, the file
 * or its directory is read-only. They are a state of the store (the link
 * stops acking, the Telegram queue waits), not a reason to crash; the same
 * write succeeds once space returns.
 */
const STORAGE_CODES = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|NOMEM)/;

/** The SQLite code of `err` ("SQLITE_FULL", ...), or undefined. */
export function sqliteCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SQLITE_")) return code;
  }
  return undefined;
}

/** True for errors that make the store unwritable for now (see above; PostgreSQL's in postgres-errors.ts). */
export function isStorageError(err: unknown): boolean {
  const code = sqliteCode(err);
  return (code !== undefined && STORAGE_CODES.test(code)) || postgresStorageCode(err) !== undefined;
}

/** The code of a storage error, SQLite's or PostgreSQL's, for logs. */
export function storageCode(err: unknown): string | undefined {
  return sqliteCode(err) ?? postgresStorageCode(err);
}

/** What kind of trouble, in the words operators see: "store full", "store I/O error", "store read-only". */
export function storageTrouble(err: unknown): string {
  const pgCode = sqliteCode(err) === undefined ? postgresStorageCode(err) : undefined;
  if (pgCode !== undefined) return postgresTrouble(pgCode);
  const code = sqliteCode(err) ?? "";
  if (code.startsWith("SQLITE_FULL")) return "store full";
  if (code.startsWith("SQLITE_READONLY")) return "store read-only";
  if (code.startsWith("SQLITE_IOERR")) return "store I/O error";
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "store busy";
  return "store unavailable";
}
