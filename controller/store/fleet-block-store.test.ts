import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startPgCluster, type PgCluster } from "../../test/support/postgres.js";
import type { FleetBlock, FleetBlockStore } from "../domain/fleet-block-store.js";
import { openPostgresFleetBlockStore } from "./postgres-fleet-blocks.js";
import { openPostgresStore, type PostgresStore } from "./postgres-store.js";
import { createSqliteFleetBlockStore } from "./sqlite-fleet-blocks.js";
import { openSqliteStore, type SqliteStore } from "./sqlite-store.js";

const T0 = 1_800_000_000_000;
const block = (id: string, overrides: Partial<FleetBlock> = {}): FleetBlock => ({ fleetId: id, ip: "203.0.113.7", requestedBy: "telegram:1 (@op)", requestedAt: T0, ...overrides });

/** The same cases on every FleetBlockStore: what the fleet blocks rely on. */
function fleetBlockStoreCases(open: () => Promise<FleetBlockStore>): void {
  it("stores a fleet block once and reads it back whole", async () => {
    const store = await open();
    await store.saveFleetBlock(block("f1", { alertId: "a-1" }));
    await store.saveFleetBlock(block("f1", { ip: "198.51.100.1" }));
    await store.saveFleetBlock(block("f2", { requestedAt: T0 + 5, ip: "2001:db8::/64", expiresAt: T0 + 86_400_005 }));
    expect(await store.getFleetBlock("f1")).to.deep.equal(block("f1", { alertId: "a-1" }));
    expect(await store.getFleetBlock("f2")).to.deep.equal(block("f2", { requestedAt: T0 + 5, ip: "2001:db8::/64", expiresAt: T0 + 86_400_005 }));
    expect(await store.getFleetBlock("nope")).to.equal(undefined);
    expect((await store.listActiveFleetBlocks()).map((b) => b.fleetId)).to.deep.equal(["f1", "f2"]);
  });

  it("gives each agent one place in a fleet block, whatever its member row holds", async () => {
    const store = await open();
    await store.saveFleetBlock(block("f1"));
    expect(await store.claimMember("f1", "web-2")).to.equal(true);
    expect(await store.claimMember("f1", "web-1")).to.equal(true);
    expect(await store.claimMember("f1", "web-2")).to.equal(false);
    await store.setMember({ fleetId: "f1", agentId: "web-2", actionId: "act-2" });
    await store.setMember({ fleetId: "f1", agentId: "web-1", skipped: "opted_out" });
    expect(await store.claimMember("f1", "web-2")).to.equal(false);
    await store.setMember({ fleetId: "f1", agentId: "web-2", actionId: "act-2", unblockActionId: "un-2" });
    expect(await store.listMembers("f1")).to.deep.equal([
      { fleetId: "f1", agentId: "web-1", skipped: "opted_out" },
      { fleetId: "f1", agentId: "web-2", actionId: "act-2", unblockActionId: "un-2" },
    ]);
    expect(await store.fleetOfAction("act-2")).to.equal("f1");
    expect(await store.fleetOfAction("un-2")).to.equal("f1");
    expect(await store.fleetOfAction("act-9")).to.equal(undefined);
  });

  it("lifts a fleet block once; a lifted one is no longer active", async () => {
    const store = await open();
    await store.saveFleetBlock(block("f1"));
    expect(await store.liftFleetBlock("f1", new Date(T0 + 10), "telegram:2 (@other)")).to.equal(true);
    expect(await store.liftFleetBlock("f1", new Date(T0 + 20), "telegram:1 (@op)")).to.equal(false);
    expect(await store.liftFleetBlock("nope", new Date(T0 + 20), "x")).to.equal(false);
    expect(await store.getFleetBlock("f1")).to.deep.equal(block("f1", { liftedAt: T0 + 10, liftedBy: "telegram:2 (@other)" }));
    expect(await store.listActiveFleetBlocks()).to.deep.equal([]);
  });

  it("lists the lifted fleet blocks whose unblocks were not all requested", async () => {
    const store = await open();
    for (const id of ["f1", "f2", "f3"]) await store.saveFleetBlock(block(id));
    for (const id of ["f1", "f2", "f3"]) await store.claimMember(id, "web-1");
    await store.setMember({ fleetId: "f1", agentId: "web-1", actionId: "a1" });
    await store.setMember({ fleetId: "f2", agentId: "web-1", actionId: "a2", unblockActionId: "u2" });
    await store.setMember({ fleetId: "f3", agentId: "web-1", skipped: "opted_out" });
    expect(await store.listLiftedUnfinished()).to.deep.equal([]);
    for (const id of ["f1", "f2", "f3"]) await store.liftFleetBlock(id, new Date(T0 + 1), "x");
    expect((await store.listLiftedUnfinished()).map((b) => b.fleetId)).to.deep.equal(["f1"]);
  });
}

describe("fleet block store: SQLite", () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  fleetBlockStoreCases(async () => {
    const dir = mkdtempSync(join(tmpdir(), "secarc-fleet-store-"));
    dirs.push(dir);
    const store = openSqliteStore(join(dir, "controller.db"));
    stores.push(store);
    return createSqliteFleetBlockStore(store.db);
  });
});

describe("fleet block store: PostgreSQL (real cluster)", function () {
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
  fleetBlockStoreCases(async () => {
    const store = await openPostgresStore({ url: await cluster.createDatabase(), poolSize: 2 });
    open.push(store);
    return openPostgresFleetBlockStore(store.sql, store.where);
  });
});
