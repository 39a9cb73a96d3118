/**
 * The one error type SecARC code throws on purpose. Every error carries a
 * stable code (for logs, metrics and tests), whether retrying may help, and
 * the underlying cause.
 */
export type ErrorCode =
  | "config_invalid"
  | "config_unreadable"
  | "tls_invalid"
  | "usage"
  | "input_invalid"
  | "refused"
  | "unavailable"
  | "internal"
  | "telegram"
  | "command_failed"
  | "timeout"
  /** A replica wrote for an agent session or a lease it no longer holds (its epoch is stale). */
  | "fenced";

export interface SecarcErrorOptions {
  /** Whether the same operation may succeed if tried again later. Default: false. */
  retryable?: boolean;
  /** The error that caused this one. */
  cause?: unknown;
}

export class SecarcError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: SecarcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SecarcError";
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/**
 * True when `err` is a SecarcError with the given code. Checked by name and
 * code, not only instanceof: a module loaded lazily (import()) under a test
 * loader can come with its own copy of this class.
 */
export function isSecarcError(err: unknown, code?: ErrorCode): err is SecarcError {
  const secarc = err instanceof SecarcError || (err instanceof Error && err.name === "SecarcError" && typeof (err as { code?: unknown }).code === "string");
  return secarc && (code === undefined || (err as SecarcError).code === code);
}

/** A one-line description of any thrown value, for logs and results. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
