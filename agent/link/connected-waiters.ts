import { SecarcError } from "../../common/errors.js";

/** Callers of `waitConnected`: each resolves at the next welcomed session, or rejects after its own timeout. */
export interface ConnectedWaiters {
  /** Resolves at the next `release`; rejects with a retryable "timeout" SecarcError after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void>;
  /** Resolves every waiting caller (a session was welcomed). */
  release(): void;
}

export function createConnectedWaiters(address: string): ConnectedWaiters {
  let waiters: Array<() => void> = [];
  return {
    wait(timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          reject(new SecarcError("timeout", `not connected to ${address} within ${timeoutMs} ms`, { retryable: true }));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push(done);
      });
    },
    release() {
      const ready = waiters;
      waiters = [];
      for (const resolve of ready) resolve();
    },
  };
}
