/**
 * An unbounded single-consumer queue that is also an async iterable: the
 * session pushes ControllerMessages from anywhere (acks after commits,
 * actions from operators), the RPC handler yields them in order. Closing
 * with an error makes the iteration throw it after the queued messages.
 */
export interface MessageChannel<T> extends AsyncIterable<T> {
  /** Queues a message; false (and dropped) once the channel is closed. */
  push(message: T): boolean;
  /** Ends the iteration, with `error` thrown to the consumer if given. First close wins. */
  close(error?: unknown): void;
  readonly closed: boolean;
}

export function createMessageChannel<T>(): MessageChannel<T> {
  const queue: T[] = [];
  let closed = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;

  const signal = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };

  return {
    get closed() {
      return closed;
    },
    push(message) {
      if (closed) return false;
      queue.push(message);
      signal();
      return true;
    },
    close(error) {
      if (closed) return;
      closed = true;
      if (error !== undefined) failure = { error };
      signal();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift() as T;
          continue;
        }
        if (closed) {
          if (failure) throw failure.error;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
