import type { Prefetched, Store, StoreOperations } from "../store/store.js";

/**
 * Group commit with fair shares: store writes queued in the same turn of
 * the event loop run in one transaction, and each caller's promise settles
 * only after that transaction has committed. Acks sent from `.then`
 * therefore always follow a durable commit, while many agents (or one
 * agent's backlog) share one WAL sync.
 *
 * Every write names the queue it belongs to (the agent's session). A batch
 * takes writes round-robin across the queues, at most `maxPerKey` from any
 * one, and stops early once it has run for `maxBatchMs` (the rest waits for
 * the next batch, in order); the event loop runs between two batches. An
 * agent flooding the controller gets its share of each transaction, and an
 * alert of another agent that arrives meanwhile is in the next transaction,
 * which starts within about one batch's time, not behind the flood.
 *
 * Writes may carry prefetches (on PostgreSQL: the batch's alerts in one
 * statement, its agents' session fences in another). A batch that holds
 * any is taken first and prepared, then every write of it runs: a
 * prepared write cannot wait for the next batch. Its size then follows
 * the time budget through what writes cost in the last such batch, counted
 * apart for writes whose prefetch does all their work and for the others.
 * A prefetch only saves round trips: a write run without it (in a batch
 * that was not prepared) does the same work itself.
 */
export interface WriteBatcher {
  /**
   * Runs `write` on the batch's transaction in a coming batch, in `key`'s
   * queue; resolves with its result after the commit. `prefetched`: work
   * the batch does for all its writes together before they run
   * (BatchPrefetch in store.ts).
   */
  run<T>(write: (tx: StoreOperations) => Promise<T>, key?: string, prefetched?: readonly Prefetched[]): Promise<T>;
  /** Resolves once everything queued so far is committed. */
  flush(): Promise<void>;
  /** Writes queued and not yet committed. */
  pending(): number;
  /** Writes committed so far, and batches. */
  stats(): { writes: number; batches: number };
}

export interface WriteBatcherDeps {
  /** The store whose transactions the batches are. */
  store: Pick<Store, "transaction">;
  /** Largest number of writes per transaction. Default: 2,000. */
  maxBatch?: number;
  /** Largest number of one queue's writes per transaction (its fair share). Default: 256. */
  maxPerKey?: number;
  /**
   * How long a transaction's writes may run before it commits with what it
   * has (at least one write). Bounds how long the event loop is held, and so
   * how long another agent's alert waits behind a flood. When the last
   * commit (its fsync) took longer, the writes may run as long as it did, up
   * to 4 times this: the commits then take at most about half the time, and
   * the alert rate holds on a slow disk. Default: 6 ms.
   */
  maxBatchMs?: number;
  /** Monotonic milliseconds, for maxBatchMs. Default: performance.now. */
  monotonicNow?: () => number;
  /** Told after every committed batch (the store is writable). */
  onCommit?: () => void;
}

interface Pending {
  write: (tx: StoreOperations) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  prefetched?: readonly Prefetched[] | undefined;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A FIFO that gives up its head in O(1) (the consumed prefix is dropped now and then). */
interface Fifo {
  key: string;
  items: Pending[];
  head: number;
  /** Writes of this queue in the batch being built. */
  taken: number;
}

const DEFAULT_KEY = "";

export function createWriteBatcher(deps: WriteBatcherDeps): WriteBatcher {
  const maxBatch = deps.maxBatch ?? 2_000;
  const maxPerKey = Math.max(1, Math.min(deps.maxPerKey ?? 256, maxBatch));
  const maxBatchMs = deps.maxBatchMs ?? 6;
  const monotonicNow = deps.monotonicNow ?? (() => performance.now());
  // Insertion order of the Map is the round-robin order of the next batch.
  let queues = new Map<string, Fifo>();
  let queued = 0;
  let scheduled = false;
  // One batch at a time: the next one starts after this one's COMMIT.
  let running = false;
  let writes = 0;
  let batches = 0;
  /** How long the last commit took, after its writes (ms). */
  let lastCommitMs = 0;

  const schedule = () => {
    if (scheduled || running) return;
    scheduled = true;
    setImmediate(() => void commitOne());
  };

  /**
   * Runs writes round-robin (one from each queue in turn, each queue at most
   * maxPerKey) until maxBatch, the time budget or the queues run out. The
   * queue after the last one served leads the next batch; emptied queues go.
   * Without `tx` (the transaction could not begin) the writes are only taken.
   */
  async function runBatch(batch: Pending[], outcomes: Outcome[], tx?: StoreOperations): Promise<void> {
    const order = [...queues.values()];
    if (order.length === 0) return;
    if (order.some((fifo) => fifo.items[fifo.head]?.prefetched)) return runPrepared(order, batch, outcomes, tx);
    const started = monotonicNow();
    const budget = Math.min(4 * maxBatchMs, Math.max(maxBatchMs, lastCommitMs));
    const cursor = { next: 0 };
    for (const item of inTurn(order, batch, cursor)) {
      if (!tx) continue;
      // One failing write (a refused alert) must not undo the others:
      // each store method is its own savepoint inside this transaction.
      try {
        outcomes.push({ ok: true, value: await item.write(tx) });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
      if (monotonicNow() - started >= budget) break;
    }
    rotate(order, cursor.next);
    queued -= batch.length;
  }

  /**
   * The writes a batch takes, in turn: one queue after the other, each
   * queue's share (at most maxPerKey) in one run, so that a stream's acks
   * leave together after the commit; until maxBatch, or until the caller
   * stops. `cursor.next` is the queue after the last one served.
   */
  function* inTurn(order: Fifo[], batch: Pending[], cursor: { next: number }): Generator<Pending> {
    for (let i = 0; i < order.length; i += 1) {
      const fifo = order[i]!;
      while (fifo.taken < maxPerKey && fifo.head < fifo.items.length) {
        if (batch.length >= maxBatch) return;
        const item = fifo.items[fifo.head]!;
        fifo.head += 1;
        fifo.taken += 1;
        batch.push(item);
        cursor.next = i + 1;
        yield item;
      }
    }
  }

  /** Cost of a write in the last prepared batch, ms: [prefetch did all its work, the others]. */
  const writeCostMs = [0, 0];
  const isComplete = (item: Pending) => item.prefetched?.some((p) => p.prefetch.complete) ?? false;

  /**
   * A batch with prefetches (its first writes carry some): takes writes as runBatch does, until maxBatch or
   * until their estimated cost fills the time budget; prepares them (stage
   * by stage, each prefetch once with all its payloads); then runs every one.
   */
  async function runPrepared(order: Fifo[], batch: Pending[], outcomes: Outcome[], tx?: StoreOperations): Promise<void> {
    const budget = Math.min(4 * maxBatchMs, Math.max(maxBatchMs, lastCommitMs));
    const cursor = { next: 0 };
    let estimate = 0;
    for (const item of inTurn(order, batch, cursor)) {
      estimate += writeCostMs[isComplete(item) ? 0 : 1]!;
      if (estimate >= budget) break;
    }
    rotate(order, cursor.next);
    queued -= batch.length;
    if (!tx) return;
    await prepare(batch, tx);
    const spent = [0, 0];
    const count = [0, 0];
    for (const item of batch) {
      const kind = isComplete(item) ? 0 : 1;
      const started = monotonicNow();
      try {
        outcomes.push({ ok: true, value: await item.write(tx) });
      } catch (error) {
        outcomes.push({ ok: false, error });
      }
      spent[kind]! += monotonicNow() - started;
      count[kind]! += 1;
    }
    for (const kind of [0, 1]) if (count[kind]! > 0) writeCostMs[kind] = spent[kind]! / count[kind]!;
  }

  /** Every prefetch of the batch once, stage by stage, with its payloads in batch order; a vetoed write gets no later stage. */
  async function prepare(batch: Pending[], tx: StoreOperations): Promise<void> {
    const vetoed = new Set<Pending>();
    const stages = [...new Set(batch.flatMap((item) => item.prefetched?.map((p) => p.prefetch.stage) ?? []))].sort((a, b) => a - b);
    for (const stage of stages) {
      const groups = new Map<Prefetched["prefetch"], Array<{ item: Pending; payload: unknown }>>();
      for (const item of batch) {
        if (vetoed.has(item)) continue;
        for (const p of item.prefetched ?? []) {
          if (p.prefetch.stage !== stage) continue;
          let group = groups.get(p.prefetch);
          if (!group) groups.set(p.prefetch, (group = []));
          group.push({ item, payload: p.payload });
        }
      }
      for (const [prefetch, group] of groups) {
        const refused = await prefetch.prepare(tx, group.map((g) => g.payload));
        if (refused) for (const g of group) if (refused.has(g.payload)) vetoed.add(g.item);
      }
    }
  }

  /** The queue after the last one served leads the next batch; emptied queues go. */
  function rotate(order: Fifo[], next: number): void {
    const looked = new Set(order);
    const rotated = new Map<string, Fifo>();
    // Queues that began while the batch ran lead the next one (they were idle: their first write waits the least).
    for (const [key, fifo] of queues) if (!looked.has(fifo) && fifo.head < fifo.items.length) rotated.set(key, fifo);
    for (let j = 0; j < order.length; j += 1) {
      const fifo = order[(next + j) % order.length]!;
      fifo.taken = 0;
      if (fifo.head >= fifo.items.length) continue;
      if (fifo.head > 1_024) {
        fifo.items = fifo.items.slice(fifo.head);
        fifo.head = 0;
      }
      rotated.set(fifo.key, fifo);
    }
    queues = rotated;
  }

  async function commitOne(): Promise<void> {
    scheduled = false;
    if (queued === 0) return;
    running = true;
    const batch: Pending[] = [];
    const outcomes: Outcome[] = [];
    let written = 0;
    try {
      await deps.store.transaction(async (tx) => {
        await runBatch(batch, outcomes, tx);
        written = monotonicNow();
      });
      lastCommitMs = monotonicNow() - written;
    } catch (error) {
      // Nothing of the batch is durable. When the transaction could not even
      // begin, the batch it would have run fails in its place.
      if (batch.length === 0) await runBatch(batch, outcomes);
      for (const item of batch) item.reject(error);
      return;
    } finally {
      running = false;
      if (queued > 0) schedule();
    }
    writes += batch.length;
    batches += 1;
    deps.onCommit?.();
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }

  const enqueue = (key: string, item: Pending) => {
    let fifo = queues.get(key);
    if (!fifo) {
      fifo = { key, items: [], head: 0, taken: 0 };
      queues.set(key, fifo);
    }
    fifo.items.push(item);
    queued += 1;
    schedule();
  };

  return {
    run<T>(write: (tx: StoreOperations) => Promise<T>, key = DEFAULT_KEY, prefetched?: readonly Prefetched[]): Promise<T> {
      return new Promise<T>((resolve, reject) => enqueue(key, { write, resolve: resolve as (value: unknown) => void, reject, prefetched }));
    },
    async flush() {
      // Everything queued now: one marker per queue, settled after its queue's earlier writes.
      const markers = [...queues.keys()].map(
        (key) => new Promise<void>((resolve) => enqueue(key, { write: async () => undefined, resolve: () => resolve(), reject: () => resolve() })),
      );
      await Promise.all(markers);
    },
    pending: () => queued,
    stats: () => ({ writes, batches }),
  };
}
