import { latin1ToUtf8, parseNginxTime } from "./nginx-log-parser.js";
import { MALFORMED, parseLogTime, pathOfRequest, type WebField, type WebLineScanner } from "./web-log-scanner.js";

/**
 * JSON access logs (one object per line: nginx `escape=json`, Caddy, or any
 * other), fields found by path ("request.remote_ip"). The status is read
 * without parsing: the status key (`"status":`, spaces allowed) is looked
 * for in the raw line and its digits read. A key inside a string value
 * cannot match, because a quote in a JSON string is escaped (\"). Only a
 * line whose status is of interest is parsed whole (JSON.parse, which also
 * refuses raw control characters), and its status checked again at its
 * real path: forged text can never supply a field.
 */

/** Where each field is, as a dotted path into the object. `peer`, `status` and `time` are required. */
export type JsonFieldPaths = Partial<Record<Exclude<WebField, "peer" | "status" | "time">, string>> & { peer: string; status: string; time: string };

/** Caddy's access log (http.log.access): `request.remote_ip`, `status`, `ts` (seconds). */
export const CADDY_FIELDS: JsonFieldPaths = {
  peer: "request.remote_ip",
  forwardedFor: "request.headers.X-Forwarded-For",
  time: "ts",
  status: "status",
  path: "request.uri",
  vhost: "request.host",
};

function lookup(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    if (at === null || typeof at !== "object" || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** A string field, or several (Caddy's header arrays) joined with ", "; "" for anything else. */
function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  return "";
}

/**
 * `fixedKeys`: every key is the template's (nginx escape=json), so the
 * first status key is the status. Otherwise (Caddy's header maps, any JSON
 * logger) an attacker-chosen key could come first, and every occurrence in
 * the line is looked at, so that a 404 cannot hide behind it.
 */
export function createJsonScanner(fields: JsonFieldPaths, interest: number, fixedKeys = false): WebLineScanner {
  const split = (path: string | undefined) => (path === undefined ? undefined : path.split("."));
  const paths = {
    peer: split(fields.peer)!,
    status: split(fields.status)!,
    time: split(fields.time)!,
    forwardedFor: split(fields.forwardedFor),
    request: split(fields.request),
    path: split(fields.path),
    vhost: split(fields.vhost),
  };
  const statusKey = `"${paths.status[paths.status.length - 1]}"`;
  let parsed: unknown;

  function field(path: readonly string[] | undefined): unknown {
    return path === undefined ? undefined : lookup(parsed, path);
  }

  return {
    status(line, start, end) {
      parsed = undefined;
      if (line.charCodeAt(start) !== 123) return MALFORMED;
      let first = MALFORMED;
      let candidate = false;
      for (let at = line.indexOf(statusKey, start); at >= 0 && at < end; at = line.indexOf(statusKey, at + 1)) {
        const status = statusAfter(line, at + statusKey.length, end);
        if (first === MALFORMED) first = status;
        if (status === interest) {
          candidate = true;
          break;
        }
        if (fixedKeys && status !== MALFORMED) return status;
      }
      if (!candidate) return first;
      try {
        parsed = JSON.parse(latin1ToUtf8(line.slice(start, end)));
      } catch {
        return MALFORMED;
      }
      const status = Number(text(lookup(parsed, paths.status)));
      return Number.isInteger(status) && status >= 100 && status <= 999 ? status : MALFORMED;
    },
    peer: () => text(field(paths.peer)),
    forwardedFor() {
      const value = text(field(paths.forwardedFor));
      return value === "-" ? "" : value;
    },
    time() {
      const value = field(paths.time);
      const ms = parseLogTime(value);
      if (!Number.isNaN(ms) || typeof value !== "string" || value.length !== 26) return ms;
      return parseNginxTime(value, 0);
    },
    path(maxLength) {
      const raw = paths.path ? text(field(paths.path)) : pathOfRequest(text(field(paths.request)));
      return ` ${raw.slice(0, maxLength)}`.slice(1);
    },
    vhost() {
      const value = text(field(paths.vhost));
      return value === "-" ? "" : value;
    },
  };
}

/** The status digits after one occurrence of the status key, which ends just before `p`; or MALFORMED. */
function statusAfter(line: string, p: number, end: number): number {
  while (line.charCodeAt(p) === 32) p += 1;
  if (line.charCodeAt(p) !== 58) return MALFORMED;
  p += 1;
  while (line.charCodeAt(p) === 32) p += 1;
  const quoted = line.charCodeAt(p) === 34;
  if (quoted) p += 1;
  const d0 = line.charCodeAt(p) - 48;
  const d1 = line.charCodeAt(p + 1) - 48;
  const d2 = line.charCodeAt(p + 2) - 48;
  if (p + 3 > end || d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return MALFORMED;
  const next = line.charCodeAt(p + 3);
  if (quoted ? next !== 34 : next !== 44 && next !== 125 && next !== 32) return MALFORMED;
  return d0 * 100 + d1 * 10 + d2;
}
