import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { openSqliteStore } from "../store/sqlite-store.js";
import type { BatchPrefetch, StoreOperations } from "../store/store.js";
import { createMessageChannel } from "./message-channel.js";
import { createWriteBatcher } from "./write-batcher.js";

describe("createWriteBatcher", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "secarc-batch-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("commits writes queued together in one transaction and settles them only after the commit", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    // No time budget here (its own case is below): the 100 writes must share one transaction however loaded the machine.
    const batcher = createWriteBatcher({ store, maxBatchMs: 60_000 });
    const committedAtSettle: number[] = [];
    const count = () => (store.db.prepare("SELECT COUNT(*) AS n FROM audit").get() as { n: number }).n;
    const writes = Array.from({ length: 100 }, (_, i) =>
      batcher.run((tx) => tx.audit({ at: new Date(i), actor: "t", event: "e", detail: String(i) })).then(() => committedAtSettle.push(count())),
    );
    expect(store.db.inTransaction).to.equal(false);
    await Promise.all(writes);
    expect(committedAtSettle.every((n) => n === 100)).to.equal(true);
    expect(batcher.stats()).to.deep.equal({ writes: 100, batches: 1 });
    await store.close();
  });

  it("rejects only the write that failed; the rest of its batch commits", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    const batcher = createWriteBatcher({ store });
    const ok = batcher.run((tx) => tx.audit({ at: new Date(0), actor: "t", event: "ok", detail: "" }));
    const bad = batcher.run(async () => {
      throw new Error("refused");
    });
    await ok;
    await bad.then(() => expect.fail("should reject"), (err: Error) => expect(err.message).to.equal("refused"));
    expect((await store.listAudit(10)).map((a) => a.event)).to.deep.equal(["ok"]);
    await batcher.flush();
    await store.close();
  });

  it("splits a large queue into batches of maxBatch", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    const batcher = createWriteBatcher({ store, maxBatch: 10, maxBatchMs: 60_000 });
    expect(await Promise.all(Array.from({ length: 35 }, (_, i) => batcher.run(async () => i)))).to.deep.equal(Array.from({ length: 35 }, (_, i) => i));
    expect(batcher.stats()).to.deep.equal({ writes: 35, batches: 4 });
    await store.close();
  });

  it("gives each queue its share of a batch: a write queued behind a flood of another queue commits in the first batch", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    const batcher = createWriteBatcher({ store, maxBatch: 100, maxPerKey: 10, maxBatchMs: 60_000 });
    const order: string[] = [];
    const flood = Array.from({ length: 1_000 }, (_, i) => batcher.run(async () => order.push(`a${i}`), "flooding"));
    const other = batcher.run(async () => order.push("b0"), "quiet");
    await other;
    // Committed after at most one share (10) of the flood, not after the 1,000 writes queued before it.
    expect(order.indexOf("b0")).to.be.at.most(10);
    expect(order.length).to.be.below(1_000);
    await Promise.all(flood);
    expect(order.filter((w) => w.startsWith("a"))).to.deep.equal(Array.from({ length: 1_000 }, (_, i) => `a${i}`));
    expect(batcher.stats().batches).to.equal(100);
    await store.close();
  });

  it("commits what it has once a batch has run for maxBatchMs, each queue's share taken in one run; the queue after the last one served leads the next batch", async () => {
    let clock = 0;
    // Every write takes 2 ms of the clock: a 5 ms budget ends a batch after its third write.
    const store = openSqliteStore(join(dir, "c.db"));
    const batcher = createWriteBatcher({ store, maxBatchMs: 5, monotonicNow: () => clock });
    const order: string[] = [];
    const write = (name: string) => async () => {
      clock += 2;
      order.push(name);
    };
    const writes = ["a0", "a1", "a2"].map((n) => batcher.run(write(n), "a"));
    writes.push(...["b0", "b1"].map((n) => batcher.run(write(n), "b")), batcher.run(write("c0"), "c"));
    await writes[0];
    expect(batcher.stats()).to.deep.equal({ writes: 3, batches: 1 });
    expect(order).to.deep.equal(["a0", "a1", "a2"]);
    await Promise.all(writes);
    // The second batch starts with "b" (after "a", the last served), in each queue's order.
    expect(order).to.deep.equal(["a0", "a1", "a2", "b0", "b1", "c0"]);
    expect(batcher.stats()).to.deep.equal({ writes: 6, batches: 2 });
    await store.close();
  });

  it("puts a queue that began while a batch ran at the head of the next batch, before a flood's next share", async () => {
    let clock = 0;
    const store = openSqliteStore(join(dir, "c.db"));
    // Every write takes 2 ms of the clock: a 5 ms budget ends a batch after its third write.
    const batcher = createWriteBatcher({ store, maxBatchMs: 5, monotonicNow: () => clock });
    const order: string[] = [];
    let late: Promise<unknown> | undefined;
    const flood = Array.from({ length: 9 }, (_, i) =>
      batcher.run(async () => {
        clock += 2;
        order.push(`a${i}`);
        // The quiet queue's write arrives while the first batch runs.
        late ??= batcher.run(async () => order.push("b0"), "quiet");
      }, "flooding"),
    );
    await Promise.all([...flood, late]);
    expect(order.slice(0, 4)).to.deep.equal(["a0", "a1", "a2", "b0"]);
    await store.close();
  });

  it("lets a batch's writes run as long as the last commit took, up to 4 times maxBatchMs", async () => {
    let clock = 0;
    // Each commit takes 12 ms of the clock, each write 1 ms.
    const store = {
      async transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> {
        const value = await fn({} as StoreOperations);
        clock += 12;
        return value;
      },
    };
    const batcher = createWriteBatcher({ store, maxBatchMs: 2, monotonicNow: () => clock });
    const sizes: number[] = [];
    const writes = Array.from({ length: 30 }, () =>
      batcher.run(async () => {
        clock += 1;
        return batcher.stats().batches;
      }),
    );
    for (const index of await Promise.all(writes)) sizes[index] = (sizes[index] ?? 0) + 1;
    // First batch: the 2 ms budget; then the 12 ms commit, capped at 4 × 2 = 8 ms.
    expect(sizes.slice(0, 3)).to.deep.equal([2, 8, 8]);
  });

  it("fails the writes of a batch whose transaction cannot begin, and goes on with the next", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    let failing = true;
    const batcher = createWriteBatcher({
      maxBatch: 2,
      store: {
        transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> {
          if (!failing) return store.transaction(fn);
          failing = false;
          return Promise.reject(new Error("database is locked"));
        },
      },
    });
    const ran: number[] = [];
    const writes = [0, 1, 2].map((i) => batcher.run(async () => ran.push(i)).then(() => "ok", (err: Error) => err.message));
    expect(await Promise.all(writes)).to.deep.equal(["database is locked", "database is locked", "ok"]);
    expect(ran).to.deep.equal([2]);
    await store.close();
  });

  it("prepares a batch's prefetches once each, stage by stage with the payloads in batch order, skips later stages of a vetoed write, then runs every write", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    const batcher = createWriteBatcher({ store, maxPerKey: 2, maxBatchMs: 60_000 });
    const log: string[] = [];
    const fence: BatchPrefetch<string> = {
      stage: 0,
      async prepare(_tx, payloads) {
        log.push(`fence ${payloads.join(",")}`);
        return new Set(payloads.filter((p) => p === "stale"));
      },
    };
    const data: BatchPrefetch<number> = {
      stage: 1,
      complete: true,
      async prepare(_tx, payloads) {
        log.push(`data ${payloads.join(",")}`);
        return undefined;
      },
    };
    const write = (name: string, key: string, claim: string, value?: number) =>
      batcher.run(
        async () => {
          log.push(`write ${name}`);
          return name;
        },
        key,
        [{ prefetch: fence, payload: claim }, ...(value === undefined ? [] : [{ prefetch: data, payload: value }])],
      );
    // Listed data-first for b: stages, not list order, decide.
    const writes = [write("a1", "a", "live-a", 1), write("a2", "a", "live-a", 2), write("a3", "a", "live-a", 3), write("s1", "s", "stale", 10), write("b1", "b", "live-b")];
    expect(await Promise.all(writes)).to.deep.equal(["a1", "a2", "a3", "s1", "b1"]);
    // Batch 1: a's share (2), s, b — a3 waits for batch 2. s is vetoed: no data stage for it, but it still runs.
    expect(log).to.deep.equal(["fence live-a,live-a,stale,live-b", "data 1,2", "write a1", "write a2", "write s1", "write b1", "fence live-a", "data 3", "write a3"]);
    expect(batcher.stats()).to.deep.equal({ writes: 5, batches: 2 });
    await store.close();
  });

  it("fails every write of a batch whose prefetch fails, and goes on with the next", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    const batcher = createWriteBatcher({ store, maxBatch: 2, maxBatchMs: 60_000 });
    let failing = true;
    const flaky: BatchPrefetch<number> = {
      stage: 1,
      async prepare() {
        if (failing) {
          failing = false;
          throw new Error("connection lost");
        }
        return undefined;
      },
    };
    const ran: number[] = [];
    const writes = [0, 1, 2].map((i) => batcher.run(async () => ran.push(i), "k", [{ prefetch: flaky, payload: i }]).then(() => "ok", (err: Error) => err.message));
    expect(await Promise.all(writes)).to.deep.equal(["connection lost", "connection lost", "ok"]);
    expect(ran).to.deep.equal([2]);
    await store.close();
  });

  it("sizes a prepared batch by what its writes cost in the last one: the complete ones apart from the others", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    let clock = 0;
    const batcher = createWriteBatcher({ store, maxBatchMs: 10, monotonicNow: () => clock });
    const cheap: BatchPrefetch<number> = { stage: 1, complete: true, prepare: async () => undefined };
    const fence: BatchPrefetch<number> = { stage: 0, prepare: async () => undefined };
    const tracked = (cost: number, prefetch: BatchPrefetch<number>, i: number) =>
      batcher.run(
        async () => {
          clock += cost;
          return i;
        },
        `k${i}`,
        [{ prefetch, payload: i }],
      );
    // Slow writes (4 ms each, fence only): the first batch takes them all (nothing measured yet); the next ones fit the 10 ms budget: 3 writes.
    const slow = Array.from({ length: 20 }, (_, i) => tracked(4, fence, i));
    await Promise.all(slow);
    expect(batcher.stats().batches).to.equal(1);
    const more = Array.from({ length: 9 }, (_, i) => tracked(4, fence, 100 + i));
    await Promise.all(more);
    expect(batcher.stats().batches).to.equal(1 + 3);
    // Cheap ones (complete prefetch) are counted apart: nothing known of them yet, so 100 go in one batch.
    const fast = Array.from({ length: 100 }, (_, i) => tracked(0.01, cheap, 200 + i));
    await Promise.all(fast);
    expect(batcher.stats().batches).to.equal(1 + 3 + 1);
    await store.close();
  });

  it("lets the event loop run between two batches, and flush waits for every queue", async () => {
    const store = openSqliteStore(join(dir, "c.db"));
    const batcher = createWriteBatcher({ store, maxPerKey: 5, maxBatchMs: 60_000 });
    let batchesSeenByTimer = -1;
    const writes = Array.from({ length: 50 }, (_, i) => batcher.run(async () => i, `k${i % 2}`));
    setImmediate(() => (batchesSeenByTimer = batcher.stats().batches));
    await batcher.flush();
    expect(batcher.pending()).to.equal(0);
    expect(await Promise.all(writes)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    expect(batchesSeenByTimer).to.be.within(1, 4);
    await store.close();
  });
});

describe("createMessageChannel", () => {
  it("yields pushed messages in order and then the closing error", async () => {
    const channel = createMessageChannel<number>();
    const seen: number[] = [];
    const consumed = (async () => {
      for await (const n of channel) seen.push(n);
    })();
    channel.push(1);
    channel.push(2);
    await new Promise((r) => setImmediate(r));
    channel.push(3);
    channel.close(new Error("ended"));
    expect(channel.push(4)).to.equal(false);
    await consumed.then(() => expect.fail("should throw"), (err: Error) => expect(err.message).to.equal("ended"));
    expect(seen).to.deep.equal([1, 2, 3]);
  });
});
