import Database from "better-sqlite3";
import { expect } from "chai";
import { isSecarcError } from "../../common/errors.js";
import { migrate, type Migration } from "./migrate.js";

const STEPS: Migration[] = [
  { version: 1, sql: "CREATE TABLE t (a INTEGER)" },
  { version: 2, sql: "ALTER TABLE t ADD COLUMN b TEXT" },
];

describe("store migrations", () => {
  it("runs each step once, in order, and records the version per component", () => {
    const db = new Database(":memory:");
    expect(migrate(db, "core", STEPS.slice(0, 1))).to.equal(1);
    expect(migrate(db, "core", STEPS)).to.equal(2);
    expect(migrate(db, "core", STEPS)).to.equal(2);
    expect(db.prepare("SELECT version FROM schema_versions WHERE component = 'core'").get()).to.deep.equal({ version: 2 });
    db.close();
  });

  it("refuses a store whose schema is newer than this version knows, naming both versions", () => {
    const db = new Database(":memory:");
    migrate(db, "core", STEPS);
    let caught: unknown;
    try {
      migrate(db, "core", STEPS.slice(0, 1));
    } catch (err) {
      caught = err;
    }
    expect(isSecarcError(caught, "refused"), String(caught)).to.equal(true);
    expect((caught as Error).message).to.contain("core schema is version 2, this secarc knows up to 1").and.contain("newer secarc");
    // nothing was changed by the refused open
    expect(db.prepare("SELECT version FROM schema_versions WHERE component = 'core'").get()).to.deep.equal({ version: 2 });
    db.close();
  });
});
