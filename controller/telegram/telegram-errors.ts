import { SecarcError } from "../../common/errors.js";

/** What the send queue does with a failed Bot API call. */
export type SendFailure =
  /** Telegram asks to slow down: wait retry_after, then retry. */
  | { type: "rate_limited"; retryAfterMs: number }
  /** Network trouble or a 5xx: retry with backoff. */
  | { type: "transient" }
  /** The edit would change nothing: the message already shows it. */
  | { type: "not_modified" }
  /** The message to edit is gone: send a new one instead. */
  | { type: "message_gone" }
  /** Telegram refuses the bot token (401): nothing works until the token is fixed; jobs wait. */
  | { type: "unauthorized" }
  /** Telegram refuses the chat itself (bot blocked or removed, chat not found, no rights): park the chat's queue. */
  | { type: "chat_unreachable" }
  /** Retrying cannot help (a bad request). */
  | { type: "permanent" };

interface TelegramLikeError {
  code?: unknown;
  response?: { error_code?: unknown; description?: unknown; parameters?: { retry_after?: unknown } };
  name?: unknown;
  message?: unknown;
}

/** The error code of Telegram's answer, if the call got one. */
function answerCode(e: TelegramLikeError): number | undefined {
  return typeof e.response?.error_code === "number" ? e.response.error_code : typeof e.code === "number" ? e.code : undefined;
}

/** 400 answers about the chat rather than the message. */
const CHAT_REFUSALS = /chat not found|have no rights|not enough rights|CHAT_WRITE_FORBIDDEN|CHAT_RESTRICTED|bot was kicked|bot is not a member|need administrator rights|group chat was upgraded|PEER_ID_INVALID|user is deactivated/i;

/**
 * Classifies an error thrown by telegraf's API client. The notifier never
 * retries by itself; the queue's one retry stage acts on this.
 */
export function classifySendError(err: unknown): SendFailure {
  const e = (err ?? {}) as TelegramLikeError;
  const code = answerCode(e);
  const description = String(e.response?.description ?? e.message ?? "");
  if (code === 429) {
    const retryAfter = Number(e.response?.parameters?.retry_after);
    return { type: "rate_limited", retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 5_000 };
  }
  if (code === undefined) return { type: "transient" };
  if (code >= 500) return { type: "transient" };
  if (code === 401) return { type: "unauthorized" };
  if (code === 400 && /message is not modified/i.test(description)) return { type: "not_modified" };
  if (code === 400 && /message to edit not found|message can't be edited|MESSAGE_ID_INVALID/i.test(description)) return { type: "message_gone" };
  if (code === 403 || (code === 400 && CHAT_REFUSALS.test(description))) return { type: "chat_unreachable" };
  return { type: "permanent" };
}

/**
 * Network failures that happen before the request is written (no
 * connection, no name, a refused certificate): Telegram cannot have seen
 * the call.
 */
const NEVER_SENT = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "EHOSTDOWN", "EADDRNOTAVAIL",
  "ERR_TLS_CERT_ALTNAME_INVALID", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN",
]);

/**
 * Whether a failed call may still have been carried out. An answer below
 * 500 is Telegram refusing it; a connection never made is never seen.
 * Everything else — no answer within the deadline, a reset or hang-up
 * after the request went out, a 5xx (a proxy in front may answer after the
 * backend acted) — leaves the outcome unknown: the Bot API has no
 * idempotency key, so a retried sendMessage may show a second copy.
 */
export function mayHaveArrived(err: unknown): boolean {
  const status = answerCode((err ?? {}) as TelegramLikeError);
  if (status !== undefined) return status >= 500;
  return !errorCodes(err).some((code) => NEVER_SENT.has(code));
}

/** The string codes along an error's chain of causes, outermost first (a system error's "ECONNREFUSED", a SecarcError's kind). */
export function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let cause: unknown = err, depth = 0; cause && depth < 4; cause = (cause as { cause?: unknown }).cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

/** A SecarcError for logs, saying whether retrying may help. */
export function toSecarcError(err: unknown, what: string): SecarcError {
  const failure = classifySendError(err);
  const retryable = failure.type === "rate_limited" || failure.type === "transient" || failure.type === "unauthorized";
  const message = err instanceof Error ? err.message : String(err);
  return new SecarcError("telegram", `${what}: ${message}`, { retryable, cause: err });
}

/** Exponential backoff for transient failures: 1 s doubling, capped at 60 s. */
export function backoffMs(attempts: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.min(attempts, 6));
}

/** Longest wait between two attempts to reach the Bot API (getMe, setMyCommands, webhook, polling). */
export const RECONNECT_BACKOFF_CAP_MS = 300_000;

/** Backoff for reaching the Bot API again: 1 s doubling, capped at 5 min. */
export function reconnectBackoffMs(attempts: number): number {
  return Math.min(RECONNECT_BACKOFF_CAP_MS, 1000 * 2 ** Math.min(attempts, 9));
}
