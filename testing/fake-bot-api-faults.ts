import type { EventEmitter } from "node:events";
import { SecarcError } from "../common/errors.js";

/**
 * The faults a test can put into the fake Bot API: error answers for the next
 * calls (HTTP 429 with retry_after by default, or any code and description),
 * and held calls — a call that gets no answer until the test releases it (a
 * hanging Telegram), delivered first or only on release.
 */

export interface FailOptions {
  retryAfter?: number;
  methods?: string[];
  /** Only calls to this chat. Default: any chat. */
  chatId?: number;
  errorCode?: number;
  description?: string;
}

export interface HoldOptions {
  /** The methods to hold. Default: sendMessage. */
  methods?: string[];
  /** Only calls to this chat. Default: any chat. */
  chatId?: number;
  /** How many calls to hold. Default: 1. */
  count?: number;
  /**
   * Carry the call out at once and hold only the answer (Telegram got it, the
   * answer is lost or late). Default: false (carried out on release).
   */
  deliverFirst?: boolean;
}

export interface HeldCalls {
  /** Resolves when the first held call has arrived. */
  readonly arrived: Promise<void>;
  /** How many calls are held now. */
  held(): number;
  /** Lets every held call (and later matching ones) through. */
  release(): void;
}

export interface FakeFaults {
  failNext(count: number, options?: FailOptions): void;
  hold(options?: HoldOptions): HeldCalls;
  /** An error answer for this call, if one was injected. */
  failureFor(method: string, params: Record<string, unknown>): { status: number; body: Record<string, unknown> } | undefined;
  /** The hold that applies to this call, if any. */
  holdFor(method: string, params: Record<string, unknown>): { deliverFirst: boolean; wait: Promise<void> } | undefined;
  /** Releases everything (the fake stops). */
  releaseAll(): void;
}

const SEND_METHODS = ["sendMessage", "editMessageText", "editMessageReplyMarkup", "deleteMessage"];

export function createFakeFaults(): FakeFaults {
  const failures: Array<{ retryAfter: number; methods: Set<string>; chatId: number | undefined; errorCode: number; description: string | undefined }> = [];
  const holds: Array<{ options: HoldOptions; left: number; waiters: Array<() => void>; released: boolean; onArrive: () => void }> = [];

  return {
    failNext(count, options = {}) {
      for (let i = 0; i < count; i++) {
        failures.push({ retryAfter: options.retryAfter ?? 1, methods: new Set(options.methods ?? SEND_METHODS), chatId: options.chatId, errorCode: options.errorCode ?? 429, description: options.description });
      }
    },
    hold(options = {}) {
      let onArrive = () => {};
      const arrived = new Promise<void>((resolve) => (onArrive = resolve));
      const entry = { options, left: options.count ?? 1, waiters: [] as Array<() => void>, released: false, onArrive };
      holds.push(entry);
      return {
        arrived,
        held: () => entry.waiters.length,
        release() {
          entry.released = true;
          for (const wake of entry.waiters.splice(0)) wake();
        },
      };
    },
    failureFor(method, params) {
      const failure = failures[0];
      if (!failure || !failure.methods.has(method) || (failure.chatId !== undefined && Number(params.chat_id) !== failure.chatId)) return undefined;
      failures.shift();
      const code = failure.errorCode;
      const description = failure.description ?? (code === 429 ? `Too Many Requests: retry after ${failure.retryAfter}` : "Error");
      return { status: code, body: { ok: false, error_code: code, description, ...(code === 429 ? { parameters: { retry_after: failure.retryAfter } } : {}) } };
    },
    holdFor(method, params) {
      const entry = holds.find(
        (h) => !h.released && h.left > 0 && (h.options.methods ?? ["sendMessage"]).includes(method) && (h.options.chatId === undefined || Number(params.chat_id) === h.options.chatId),
      );
      if (!entry) return undefined;
      entry.left--;
      const wait = new Promise<void>((resolve) => entry.waiters.push(resolve));
      entry.onArrive();
      return { deliverFirst: entry.options.deliverFirst ?? false, wait };
    },
    releaseAll() {
      for (const entry of holds) {
        entry.released = true;
        for (const wake of entry.waiters.splice(0)) wake();
      }
    },
  };
}

/** Resolves when the predicate holds (checked on every "change" event), rejects after timeoutMs. */
export function waitForChange<T>(events: EventEmitter, predicate: () => T | undefined | false, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const check = () => {
      let value: T | undefined | false;
      try {
        value = predicate();
      } catch (err) {
        done();
        reject(err);
        return;
      }
      if (value !== undefined && value !== false) {
        done();
        resolve(value);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new SecarcError("timeout", `fake Bot API: condition not met within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      events.off("change", check);
    };
    events.on("change", check);
    check();
  });
}
