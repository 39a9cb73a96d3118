import { SecarcError } from "../../common/errors.js";

/**
 * Runs one Bot API call with a deadline: past `timeoutMs` the request is
 * aborted and the call fails with a retryable "timeout" error (the
 * send queue's retry stage treats it as a network failure). Telegram has no
 * idempotency key: a send given up this way may still have been delivered,
 * so a retry can show it twice — the window is the deadline itself.
 */
export async function withDeadline<T>(timeoutMs: number, what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    return await call(controller.signal);
  } catch (err) {
    if (timedOut) throw new SecarcError("timeout", `${what}: no answer from Telegram within ${Math.round(timeoutMs / 100) / 10} s`, { retryable: true, cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
