/**
 * Group commit with fair shares: store writes queued in the same turn of
 * the event loop run in one transaction, and each caller's promise settles
 * only after that transaction has committed. Acks sent from `.then`
 * therefore always follow a durable commit, while many agents (or one
 * agent's backlog) share one WAL sync.
 *
 * Every write names the queue it belongs to (the agent's session). A batch
 * takes writes round-robin across the queues, at most `maxPerKey` from any
 * one, and the event loop runs between two batches: an agent flooding the
 * controller gets its share of each transaction, and an alert of another
 * agent that arrives meanwhile is in the next transaction, not behind the
 * flood.
 */
export interface WriteBatcher {
  /** Runs `write` in a coming batch, in `key`'s queue; resolves with its result after the commit. */
  run<T>(write: () => T, key?: string): Promise<T>;
  /** Resolves once everything queued so far is committed. */
  flush(): Promise<void>;
  /** Writes queued and not yet committed. */
  pending(): number;
  /** Writes committed so far, and batches. */
  stats(): { writes: number; batches: number };
}

export interface WriteBatcherDeps {
  /** Runs `fn` in one transaction (SqliteStore.transaction). Default: runs it as is. */
  transaction?: <T>(fn: () => T) => T;
  /** Largest number of writes per transaction. Default: 2,000. */
  maxBatch?: number;
  /** Largest number of one queue's writes per transaction (its fair share). Default: 256. */
  maxPerKey?: number;
  /** Told after every committed batch (the store is writable). */
  onCommit?: () => void;
}

interface Pending {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A FIFO that gives up its head in O(1) (the consumed prefix is dropped now and then). */
interface Fifo {
  items: Pending[];
  head: number;
}

const DEFAULT_KEY = "";

export function createWriteBatcher(deps: WriteBatcherDeps = {}): WriteBatcher {
  const transaction = deps.transaction ?? (<T>(fn: () => T) => fn());
  const maxBatch = deps.maxBatch ?? 2_000;
  const maxPerKey = Math.max(1, Math.min(deps.maxPerKey ?? 256, maxBatch));
  // Insertion order of a Map is the round-robin order: a queue that still
  // has writes after its share is moved to the end.
  const queues = new Map<string, Fifo>();
  let queued = 0;
  let scheduled = false;
  let writes = 0;
  let batches = 0;

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(commitOne);
  };

  /** Up to maxBatch writes: round-robin, one at a time, each queue at most maxPerKey. */
  function takeBatch(): Pending[] {
    const batch: Pending[] = [];
    const taken = new Map<string, number>();
    let progress = true;
    while (batch.length < maxBatch && progress) {
      progress = false;
      for (const [key, fifo] of queues) {
        if (batch.length >= maxBatch) break;
        const count = taken.get(key) ?? 0;
        if (count >= maxPerKey || fifo.head >= fifo.items.length) continue;
        batch.push(fifo.items[fifo.head]!);
        fifo.head += 1;
        taken.set(key, count + 1);
        progress = true;
      }
    }
    for (const key of taken.keys()) {
      const fifo = queues.get(key)!;
      queues.delete(key);
      if (fifo.head >= fifo.items.length) continue;
      if (fifo.head > 1_024) {
        fifo.items = fifo.items.slice(fifo.head);
        fifo.head = 0;
      }
      queues.set(key, fifo);
    }
    queued -= batch.length;
    return batch;
  }

  function commitOne(): void {
    scheduled = false;
    const batch = takeBatch();
    if (queued > 0) schedule();
    if (batch.length === 0) return;
    const outcomes: Outcome[] = [];
    try {
      transaction(() => {
        for (const item of batch) {
          // One failing write (a refused alert) must not undo the others:
          // each store method is its own savepoint inside this transaction.
          try {
            outcomes.push({ ok: true, value: item.write() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
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
      fifo = { items: [], head: 0 };
      queues.set(key, fifo);
    }
    fifo.items.push(item);
    queued += 1;
    schedule();
  };

  return {
    run<T>(write: () => T, key = DEFAULT_KEY): Promise<T> {
      return new Promise<T>((resolve, reject) => enqueue(key, { write, resolve: resolve as (value: unknown) => void, reject }));
    },
    async flush() {
      // Everything queued now: one marker per queue, settled after its queue's earlier writes.
      const markers = [...queues.keys()].map(
        (key) => new Promise<void>((resolve) => enqueue(key, { write: () => undefined, resolve: () => resolve(), reject: () => resolve() })),
      );
      await Promise.all(markers);
    },
    pending: () => queued,
    stats: () => ({ writes, batches }),
  };
}
