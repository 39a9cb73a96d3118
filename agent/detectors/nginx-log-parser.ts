/**
 * Hand-written scanning of nginx "combined" access-log lines:
 *
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
 *
 * Lines arrive as ranges of a latin1-decoded chunk (one char per byte, so
 * char offsets are byte offsets). No regular expression and no allocation on
 * the common path: the status is read at a fixed place after the quoted
 * request (nginx escapes `"` inside $request as \x22, so the request's
 * closing quote is the second quote of the line). Only lines with the status
 * of interest pay for the client address, time and path.
 */

const enum Ch {
  Space = 32,
  Quote = 34,
  Plus = 43,
  Minus = 45,
  Slash = 47,
  Zero = 48,
  Nine = 57,
  Colon = 58,
  OpenBracket = 91,
  CloseBracket = 93,
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTH_BY_CODE = new Map<number, number>(
  MONTHS.map((name, i) => [(name.charCodeAt(0) << 16) | (name.charCodeAt(1) << 8) | name.charCodeAt(2), i + 1]),
);

/** Length of "10/Oct/2000:13:55:36 -0700". */
export const NGINX_TIME_LENGTH = 26;

/** Result codes of `scanStatus`. */
export const MALFORMED = -1;

/**
 * Finds quotes with a cache so that scanning a chunk is linear even when
 * lines have no quotes: a search from `from` that found `at` proves there is
 * no quote in [from, at), so later searches starting inside reuse it.
 */
export class QuoteFinder {
  private text = "";
  private from = 0;
  private at = -1;

  find(text: string, from: number): number {
    if (text !== this.text) {
      this.text = text;
      this.at = -1;
    }
    if (this.at >= from && this.from <= from) return this.at;
    this.from = from;
    const at = text.indexOf('"', from);
    this.at = at < 0 ? text.length : at;
    return this.at;
  }
}

/** Where the parts of a combined line are, for a line that passed `scanLine`. */
export interface LineShape {
  /** Index of the request's opening quote. */
  open: number;
  /** Index of the request's closing quote. */
  close: number;
}

/**
 * Reads the status field of the line [start, end): returns the status (100-999)
 * or MALFORMED, and fills `shape` with the request's quotes.
 */
export function scanStatus(text: string, start: number, end: number, quotes: QuoteFinder, shape: LineShape): number {
  const open = quotes.find(text, start);
  if (open >= end || open < start + 2 + NGINX_TIME_LENGTH + 2) return MALFORMED;
  if (text.charCodeAt(open - 1) !== Ch.Space || text.charCodeAt(open - 2) !== Ch.CloseBracket) return MALFORMED;
  const close = quotes.find(text, open + 1);
  if (close + 4 >= end) return MALFORMED;
  if (text.charCodeAt(close + 1) !== Ch.Space) return MALFORMED;
  const d0 = text.charCodeAt(close + 2) - Ch.Zero;
  const d1 = text.charCodeAt(close + 3) - Ch.Zero;
  const d2 = text.charCodeAt(close + 4) - Ch.Zero;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return MALFORMED;
  if (close + 5 < end && text.charCodeAt(close + 5) !== Ch.Space) return MALFORMED;
  shape.open = open;
  shape.close = close;
  return d0 * 100 + d1 * 10 + d2;
}

/** The client address field (first field), or "" when the line does not start with one. */
export function clientField(text: string, start: number, open: number): string {
  const space = text.indexOf(" ", start);
  if (space <= start || space >= open) return "";
  return text.slice(start, space);
}

function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = 0; i < count; i++) {
    const d = text.charCodeAt(at + i) - Ch.Zero;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Parses "10/Oct/2000:13:55:36 -0700" starting at `at` into Unix ms, or NaN.
 */
export function parseNginxTime(text: string, at: number): number {
  const day = digits(text, at, 2);
  const month = MONTH_BY_CODE.get((text.charCodeAt(at + 3) << 16) | (text.charCodeAt(at + 4) << 8) | text.charCodeAt(at + 5));
  const year = digits(text, at + 7, 4);
  const hour = digits(text, at + 12, 2);
  const minute = digits(text, at + 15, 2);
  const second = digits(text, at + 18, 2);
  const sign = text.charCodeAt(at + 21);
  const offH = digits(text, at + 22, 2);
  const offM = digits(text, at + 24, 2);
  if (
    month === undefined ||
    day < 1 ||
    day > 31 ||
    year < 0 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 60 ||
    offH < 0 ||
    offM < 0 ||
    (sign !== Ch.Plus && sign !== Ch.Minus) ||
    text.charCodeAt(at + 2) !== Ch.Slash ||
    text.charCodeAt(at + 6) !== Ch.Slash ||
    text.charCodeAt(at + 11) !== Ch.Colon ||
    text.charCodeAt(at + 20) !== Ch.Space
  ) {
    return Number.NaN;
  }
  const offset = (sign === Ch.Minus ? -1 : 1) * (offH * 60 + offM) * 60_000;
  return ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000 - offset;
}

/** Where the time field starts, given the request's opening quote; -1 if it is not there. */
export function timeFieldStart(text: string, open: number): number {
  const at = open - 2 - NGINX_TIME_LENGTH;
  return text.charCodeAt(at - 1) === Ch.OpenBracket ? at : -1;
}

/**
 * The path of the request "GET /path HTTP/1.1" (the part between the first
 * and the last space), or the whole request when it has no such shape;
 * latin1 text, cut to `maxLength` chars.
 */
export function requestPath(text: string, open: number, close: number, maxLength: number): string {
  const first = text.indexOf(" ", open + 1);
  let from = open + 1;
  let to = close;
  if (first > 0 && first < close) {
    from = first + 1;
    const last = text.lastIndexOf(" ", close - 1);
    if (last > first) to = last;
  }
  return text.slice(from, Math.min(to, from + maxLength));
}

/** Turns latin1-decoded text (one char per byte) back into the UTF-8 it was. */
export function latin1ToUtf8(text: string): string {
  return Buffer.from(text, "latin1").toString("utf8");
}

const NON_ASCII = /[\x80-\xff]/;

/**
 * A copy of a field cut from a chunk that shares no memory with the chunk
 * (so that keeping it does not keep the whole chunk alive), as UTF-8 text.
 * V8 makes slices of 13 chars or more "sliced strings" pointing into their
 * parent; shorter ones are copies already. Pure-ASCII fields (nearly all)
 * are flattened through a concatenation, which is far cheaper than a round
 * trip through a Buffer.
 */
export function ownField(text: string): string {
  if (NON_ASCII.test(text)) return latin1ToUtf8(text);
  return text.length < 13 ? text : ` ${text}`.slice(1);
}
