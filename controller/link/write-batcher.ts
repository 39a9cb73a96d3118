/**
 * Group commit: store writes queued in the same turn of the event loop run
 * in one transaction, and each caller's promise settles only after that
 * transaction has committed. Acks sent from `.then` therefore always follow
 * a durable commit, while many agents (or one agent's backlog) share one
 * WAL sync.
 */
export interface WriteBatcher {
  /** Runs `write` in the next batch; resolves with its result after the commit. */
  run<T>(write: () => T): Promise<T>;
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
  /** Told after every committed batch (the store is writable). */
  onCommit?: () => void;
}

interface Pending {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export function createWriteBatcher(deps: WriteBatcherDeps = {}): WriteBatcher {
  const transaction = deps.transaction ?? (<T>(fn: () => T) => fn());
  const maxBatch = deps.maxBatch ?? 2_000;
  let queue: Pending[] = [];
  let scheduled = false;
  let writes = 0;
  let batches = 0;

  function commit(): void {
    scheduled = false;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
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
        continue;
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
  }

  return {
    run<T>(write: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(commit);
        }
      });
    },
    async flush() {
      if (queue.length === 0) return;
      await new Promise<void>((resolve) => {
        queue.push({ write: () => undefined, resolve: () => resolve(), reject: () => resolve() });
        if (!scheduled) {
          scheduled = true;
          setImmediate(commit);
        }
      });
    },
    pending: () => queue.length,
    stats: () => ({ writes, batches }),
  };
}
