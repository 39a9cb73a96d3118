/**
 * What every web access-log format compiles to: a scanner that reads one
 * line's status cheaply, and only for a line whose status is of interest
 * pays for the other fields. Lines are ranges of latin1-decoded text (one
 * char per byte). A scanner is stateful: the getters refer to the line last
 * given to `status`.
 */
export interface WebLineScanner {
  /** The status (100-999) of the line [start, end), or MALFORMED. */
  status(text: string, start: number, end: number): number;
  /** The peer's address field as written ("" when missing); not yet checked to be an IP. */
  peer(): string;
  /** The X-Forwarded-For field as written ("" when the format has none or it is "-"). */
  forwardedFor(): string;
  /** The line's own time, Unix ms; NaN when missing or unreadable. */
  time(): number;
  /** The requested path (latin1), cut to `maxLength`. */
  path(maxLength: number): string;
  /** The virtual host ("" when the format has none). */
  vhost(): string;
}

/** Result of `status` for a line that does not have the format's shape. */
export const MALFORMED = -1;

/** The fields a format can give, by role. */
export type WebField = "peer" | "forwardedFor" | "time" | "status" | "request" | "path" | "vhost";

/**
 * The path of a request line "GET /path HTTP/1.1" (the part between the
 * first and the last space), or the whole text when it has no such shape.
 */
export function pathOfRequest(request: string): string {
  const first = request.indexOf(" ");
  if (first < 0) return request;
  const last = request.lastIndexOf(" ");
  return last > first ? request.slice(first + 1, last) : request.slice(first + 1);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;
const EPOCH = /^\d{9,11}(\.\d+)?$/;

/**
 * A time as logs write it: ISO 8601 with an offset ($time_iso8601, JSON
 * logs), seconds since the epoch with a fraction ($msec, Caddy's `ts`), or
 * a number (seconds, or ms when above 1e11). NaN otherwise.
 */
export function parseLogTime(value: unknown): number {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? (value > 1e11 ? value : value * 1000) : Number.NaN;
  if (typeof value !== "string") return Number.NaN;
  if (EPOCH.test(value)) return Number(value) * 1000;
  if (ISO_TIME.test(value)) return Date.parse(value);
  return Number.NaN;
}
