import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { startPgCluster, type PgCluster } from "../../test/support/postgres.js";
import type { SilenceStore } from "../domain/silence-watch.js";
import type { Silence } from "../domain/silences.js";
import { openPostgresStore, type PostgresStore } from "./postgres-store.js";
import { openPostgresSilenceStore } from "./postgres-silences.js";
import { createSqliteSilenceStore } from "./sqlite-silences.js";
import { openSqliteStore, type SqliteStore } from "./sqlite-store.js";

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;
const silence = (id: string, overrides: Partial<Silence> = {}): Silence => ({
  silenceId: id,
  matcher: { agentId: "web-1", labels: { team: "db" }, kinds: [AlertKind.SSH_SESSION] },
  startsAt: T0,
  endsAt: T0 + HOUR,
  createdBy: "telegram:1 (@op)",
  origin: "command",
  ...overrides,
});

/** The same cases on every SilenceStore: what the silence watch relies on. */
function silenceStoreCases(open: () => Promise<SilenceStore>): void {
  it("stores a silence once (same id: left as it is) and reads it back whole", async () => {
    const store = await open();
    await store.saveSilence(silence("a"));
    await store.saveSilence(silence("a", { endsAt: T0 + 5 * HOUR }));
    await store.saveSilence(silence("w", { matcher: { labels: {}, kinds: [] }, origin: "window", createdBy: "window:sunday" }));
    expect(await store.listSilences(new Date(T0))).to.deep.equal([silence("a"), silence("w", { matcher: { labels: {}, kinds: [] }, origin: "window", createdBy: "window:sunday" })]);
  });

  it("ends a silence early only while it is in force, once", async () => {
    const store = await open();
    await store.saveSilence(silence("a"));
    expect(await store.endSilence("a", new Date(T0 - 1))).to.equal(false);
    expect(await store.endSilence("a", new Date(T0 + 10))).to.equal(true);
    expect(await store.endSilence("a", new Date(T0 + 20))).to.equal(false);
    expect(await store.endSilence("nope", new Date(T0 + 20))).to.equal(false);
    expect((await store.listSilences(new Date(T0)))[0]).to.deep.include({ endedAt: T0 + 10 });
  });

  it("lists the silences ending after a time and every undigested one; the first digest time stays", async () => {
    const store = await open();
    await store.saveSilence(silence("old", { startsAt: T0 - 3 * HOUR, endsAt: T0 - 2 * HOUR }));
    await store.saveSilence(silence("old-digested", { startsAt: T0 - 3 * HOUR, endsAt: T0 - 2 * HOUR }));
    await store.markSilenceDigested("old-digested", new Date(T0 - HOUR));
    await store.markSilenceDigested("old-digested", new Date(T0));
    await store.saveSilence(silence("now"));
    expect((await store.listSilences(new Date(T0))).map((s) => s.silenceId)).to.deep.equal(["old", "now"]);
    expect((await store.listSilences(new Date(T0 - 4 * HOUR))).find((s) => s.silenceId === "old-digested")?.digestedAt).to.equal(T0 - HOUR);
  });
}

describe("silence store: SQLite", () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  silenceStoreCases(async () => {
    const dir = mkdtempSync(join(tmpdir(), "secarc-silence-store-"));
    dirs.push(dir);
    const store = openSqliteStore(join(dir, "controller.db"));
    stores.push(store);
    return createSqliteSilenceStore(store.db);
  });
});

describe("silence store: PostgreSQL (real cluster)", function () {
  this.timeout(120_000);
  let cluster: PgCluster;
  const open: PostgresStore[] = [];
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => cluster?.stop());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  silenceStoreCases(async () => {
    const store = await openPostgresStore({ url: await cluster.createDatabase(), poolSize: 2 });
    open.push(store);
    return openPostgresSilenceStore(store.sql, store.where);
  });
});
