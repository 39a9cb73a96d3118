import { expect } from "chai";
import { isSecarcError } from "../../common/errors.js";
import { silentLogger } from "../../common/log.js";
import { eventually, useReplicaDatabase } from "../../test/support/replica-database.js";
import { acquireLease, createLease, type Lease } from "./lease.js";
import { createTelegramUpdateLog } from "./telegram-updates.js";

describe("replica lease (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const leases: Lease[] = [];
  afterEach(async () => {
    await Promise.all(leases.splice(0).map((l) => l.stop()));
  });

  it("elects one holder among three replicas; when it stops, another takes over with a higher epoch", async () => {
    const stores = await Promise.all([db.open(), db.open(), db.open()]);
    const events: string[] = [];
    const candidates = stores.map((store, i) => {
      const lease = createLease({
        sql: store.sql,
        logger: silentLogger(),
        name: "telegram",
        holder: `r${i}`,
        ttlMs: 3_000,
        renewEveryMs: 200,
        onAcquired: (epoch) => events.push(`r${i} +${epoch}`),
        onLost: (epoch) => events.push(`r${i} -${epoch}`),
      });
      leases.push(lease);
      return lease;
    });
    const first = await eventually(() => candidates.findIndex((l) => l.held() !== undefined) + 1 || undefined, "a holder");
    const holder = candidates[first - 1]!;
    const epoch = holder.held()!;
    // Several renewal rounds later: still one holder, same epoch.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(candidates.filter((l) => l.held() !== undefined)).to.have.length(1);
    expect(holder.held()).to.equal(epoch);

    await holder.stop();
    const next = await eventually(() => candidates.find((l) => l !== holder && l.held() !== undefined), "a new holder");
    expect(next.held()).to.be.greaterThan(epoch);
    expect(events.filter((e) => e.includes("+"))).to.have.length(2);
    expect(events).to.include(`r${first - 1} -${epoch}`);
    // The old epoch no longer passes the fence, in a transaction or before a send.
    expect(await stores[0]!.sql.begin((tx) => holder.check(tx, epoch))).to.equal(false);
    expect(await stores[0]!.sql.begin((tx) => next.check(tx, next.held()!))).to.equal(true);
    expect(() => holder.assertHeld(epoch)).to.throw().that.satisfies((err: unknown) => isSecarcError(err, "fenced"));
  });

  it("a holder frozen past its local deadline holds nothing when it wakes, and its epoch is fenced once another took over", async () => {
    const [a, b] = [await db.open(), await db.open()];
    let clock = 0;
    const lost: number[] = [];
    const frozen = createLease({ sql: a.sql, logger: silentLogger(), name: "telegram", holder: "a", ttlMs: 2_000, autoRenew: false, monotonic: () => clock, onLost: (e) => lost.push(e) });
    leases.push(frozen);
    const epoch = await eventually(() => frozen.held(), "a holds the lease");
    // Time passes on the monotonic clock while no renewal ran (as under SIGSTOP).
    clock += 2_000;
    expect(frozen.held()).to.equal(undefined);
    expect(lost).to.deep.equal([epoch]);
    // Once the database's expiry passed too, b takes it with a higher epoch; a's epoch is fenced.
    const taken = await eventually(() => acquireLease(b.sql, "telegram", "b", 2_000), "b takes the lease after expiry");
    expect(taken).to.equal(epoch + 1);
    expect(await a.sql.begin((tx) => frozen.check(tx, epoch))).to.equal(false);
    // a's next renewal finds b holding it.
    expect(await frozen.tick()).to.equal(undefined);
  });

  it("a candidate takes a dead holder's lease right when it expires, not up to a renewal period later", async () => {
    const [a, b] = [await db.open(), await db.open()];
    // a takes the lease once and never renews it (as if killed right after).
    const dead = createLease({ sql: a.sql, logger: silentLogger(), name: "telegram", holder: "a", ttlMs: 3_000, autoRenew: false });
    leases.push(dead);
    await eventually(() => dead.held(), "a holds the lease");
    const takenAt = Date.now();
    let acquiredAt = 0;
    // b tries every 2.5 s: without looking at the expiry it would take the lease at ~5 s, a renewal period after it expired.
    const candidate = createLease({ sql: b.sql, logger: silentLogger(), name: "telegram", holder: "b", ttlMs: 3_000, renewEveryMs: 2_500, onAcquired: () => (acquiredAt = Date.now()) });
    leases.push(candidate);
    await eventually(() => acquiredAt || undefined, "b takes the lease", 10_000);
    expect(acquiredAt - takenAt, "taken over after the 3 s expiry, well before 5 s").to.be.within(2_900, 4_200);
  });

  it("refuses a renewal period that is not below the lease's time to live", async () => {
    const a = await db.open();
    expect(() => createLease({ sql: a.sql, logger: silentLogger(), name: "x", holder: "a", ttlMs: 1_000, renewEveryMs: 1_000 })).to.throw(/renewEveryMs/);
  });
});

describe("telegram update log (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();

  it("hands each update_id to exactly one of two replicas claiming it at once", async () => {
    const [a, b] = [await db.open(), await db.open()];
    const logs = [createTelegramUpdateLog("a"), createTelegramUpdateLog("b")];
    const ids = Array.from({ length: 60 }, (_, i) => 1_000 + i);
    const claims = await Promise.all(ids.flatMap((id) => [logs[0]!.claim(a.sql, id), logs[1]!.claim(b.sql, id)]));
    for (let i = 0; i < ids.length; i++) expect([claims[2 * i], claims[2 * i + 1]].filter(Boolean), `update ${ids[i]}`).to.have.length(1);
    expect(await logs[1]!.claim(b.sql, 1_000)).to.equal(false);
  });

  it("forgets a claim whose transaction rolled back (the replica died before the tap's effect committed)", async () => {
    const a = await db.open();
    const log = createTelegramUpdateLog("a");
    const failed = await a.sql
      .begin(async (tx) => {
        expect(await log.claim(tx, 7)).to.equal(true);
        throw new Error("the effect failed");
      })
      .catch((err: Error) => err.message);
    expect(failed).to.equal("the effect failed");
    expect(await log.claim(a.sql, 7)).to.equal(true);
    expect(await log.prune(a.sql, 60_000)).to.equal(0);
    expect(await log.prune(a.sql, -1)).to.equal(1);
    const refusal = await log.claim(a.sql, -1).catch((err: unknown) => err);
    expect(refusal).to.be.instanceOf(RangeError);
  });
});
