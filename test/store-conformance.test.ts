import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPostgresStore } from "../controller/store/postgres-store.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import type { Store } from "../controller/store/store.js";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";
import { describeStoreConformance } from "./support/store-conformance.js";

// The same cases on both implementations of the controller's Store.

describeStoreConformance("SQLite", () => {
  const dir = mkdtempSync(join(tmpdir(), "secarc-conformance-"));
  const path = join(dir, "controller.db");
  const open: Store[] = [];
  return {
    async open() {
      const store = openSqliteStore(path);
      open.push(store);
      return store;
    },
    // Another handle on the same file: as `secarc status` or a second process would open it.
    async sibling() {
      const store = openSqliteStore(path);
      open.push(store);
      return store;
    },
    async cleanup() {
      for (const store of open.splice(0)) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("Store conformance on real PostgreSQL", function () {
  this.timeout(120_000);
  let cluster: PgCluster | undefined;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => cluster?.stop());

  describeStoreConformance("PostgreSQL", () => {
    const open: Store[] = [];
    let url: string | undefined;
    const connect = async (): Promise<Store> => {
      const store = await openPostgresStore({ url: url!, poolSize: 4 });
      open.push(store);
      return store;
    };
    return {
      async open() {
        url = await cluster!.createDatabase();
        return connect();
      },
      // Another pool on the same database: as another controller replica has.
      sibling: connect,
      async cleanup() {
        await Promise.all(open.splice(0).map((store) => store.close()));
      },
    };
  });
});
