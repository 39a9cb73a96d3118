import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { SecarcError, describeError } from "../../common/errors.js";
import { RESTORE_HINT, integrityCheckStore } from "./store-check.js";

/**
 * `secarc store check`: the full `PRAGMA integrity_check` of a store file,
 * opened read-only. Returns the problems (the last one says what to do);
 * none when the store is sound. Throws when the file is missing.
 */
export function checkStoreIntegrity(path: string): string[] {
  if (!existsSync(path)) throw new SecarcError("input_invalid", `no controller store at ${path}`);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const problems = integrityCheckStore(db);
    return problems.length === 0 ? [] : [...problems, `fix: stop the controller and ${RESTORE_HINT}`];
  } catch (err) {
    return [describeError(err), `fix: stop the controller and ${RESTORE_HINT}`];
  } finally {
    db?.close();
  }
}
