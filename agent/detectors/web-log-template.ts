import { SecarcError } from "../../common/errors.js";
import { ownField, parseNginxTime } from "./nginx-log-parser.js";
import { MALFORMED, parseLogTime, pathOfRequest, type WebField, type WebLineScanner } from "./web-log-scanner.js";

/**
 * An nginx `log_format` (text, not JSON) compiled once into a scanner:
 * literals and variables in order. A line matches when its literals stand
 * where the format puts them:
 * - a variable inside quotes ("$request") ends at the next quote that is
 *   not escaped (nginx writes `"` inside values as \x22, Apache as \");
 * - $time_local, $time_iso8601 and $status have a fixed width;
 * - any other variable ends where the literal after it next occurs. A value
 *   with attacker-chosen text outside quotes ($remote_user) could contain
 *   that literal; such a line then fails the checks of the fields after it
 *   (status digits, time, address) and counts as malformed. Quotes cannot
 *   be forged, so fields are never taken from inside a quoted value.
 * Only lines with the status of interest pay for the other fields.
 */

/** How values are escaped: nginx `escape=default` (\xHH), or with backslashes (Apache, nginx escape=json). */
export type TemplateEscape = "hex" | "backslash";

interface TemplateVar {
  name: string;
  role: WebField | undefined;
  /** Literal text right after it ("" at the end of the line). */
  after: string;
  quoted: boolean;
  /** Fixed width in chars, 0 when variable. */
  width: number;
}

export interface CompiledTemplate {
  lead: string;
  vars: TemplateVar[];
  escape: TemplateEscape;
}

/** Which role an nginx variable plays. */
export const VARIABLE_ROLES: Record<string, WebField> = {
  remote_addr: "peer",
  realip_remote_addr: "peer",
  http_x_forwarded_for: "forwardedFor",
  time_local: "time",
  time_iso8601: "time",
  msec: "time",
  status: "status",
  request: "request",
  request_uri: "path",
  uri: "path",
  host: "vhost",
  server_name: "vhost",
  http_host: "vhost",
};

const FIXED_WIDTH: Record<string, number> = { time_local: 26, time_iso8601: 25, status: 3 };

/** Splits a log_format into literals and variables; refuses what cannot be scanned. */
export function compileTemplate(format: string, escape: TemplateEscape): CompiledTemplate {
  const parts = format.split(/\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/);
  // parts: literal, name-in-braces, name, literal, ...
  const lead = parts[0] ?? "";
  const vars: TemplateVar[] = [];
  for (let i = 1; i < parts.length; i += 3) {
    const name = (parts[i] ?? parts[i + 1])!;
    const after = parts[i + 2] ?? "";
    const before = i === 1 ? lead : (parts[i - 1] ?? "");
    vars.push({ name, role: VARIABLE_ROLES[name], after, quoted: before.endsWith('"') && after.startsWith('"'), width: FIXED_WIDTH[name] ?? 0 });
  }
  const problem = (message: string) => new SecarcError("config_invalid", `log format: ${message}`);
  for (let i = 0; i < vars.length - 1; i++) {
    if (vars[i]!.after === "" && vars[i]!.width === 0) throw problem(`$${vars[i]!.name} and $${vars[i + 1]!.name} need text between them`);
  }
  const roles = new Set(vars.map((v) => v.role));
  if (!roles.has("peer")) throw problem("no $remote_addr: the client address is required");
  if (!roles.has("status")) throw problem("no $status");
  if (!roles.has("time")) throw problem("no $time_local, $time_iso8601 or $msec: the time is required");
  for (const role of roles) {
    if (role !== undefined && vars.filter((v) => v.role === role).length > 1) throw problem(`two variables give the ${role}; keep one`);
  }
  return { lead, vars, escape };
}

/** The index of the closing quote of a quoted value starting at `from`, or -1. */
function closingQuote(text: string, from: number, end: number, escape: TemplateEscape): number {
  let at = text.indexOf('"', from);
  while (at >= 0 && at < end) {
    if (escape === "hex") return at;
    let slashes = 0;
    while (text.charCodeAt(at - 1 - slashes) === 92) slashes += 1;
    if (slashes % 2 === 0) return at;
    at = text.indexOf('"', at + 1);
  }
  return -1;
}

/** A scanner for a compiled template; `interest` is the status whose lines get their other fields read. */
export function createTemplateScanner(template: CompiledTemplate, interest: number): WebLineScanner {
  const { lead, vars, escape } = template;
  const count = vars.length;
  const starts = new Int32Array(count);
  const ends = new Int32Array(count);
  const index = (role: WebField) => vars.findIndex((v) => v.role === role);
  const statusAt = index("status");
  const at = { peer: index("peer"), forwardedFor: index("forwardedFor"), time: index("time"), request: index("request"), path: index("path"), vhost: index("vhost") };
  let line = "";

  const value = (i: number): string => (i < 0 ? "" : line.slice(starts[i], ends[i]));
  const dash = (text: string): string => (text === "-" ? "" : text);

  function scan(text: string, start: number, end: number): number {
    if (!text.startsWith(lead, start)) return MALFORMED;
    let pos = start + lead.length;
    for (let i = 0; i < count; i++) {
      const v = vars[i]!;
      let stop: number;
      if (v.width > 0) stop = pos + v.width;
      else if (v.after === "") stop = end;
      else if (v.quoted) stop = closingQuote(text, pos, end, escape);
      else stop = text.indexOf(v.after, pos);
      if (stop < pos || stop + v.after.length > end || !text.startsWith(v.after, stop)) return MALFORMED;
      starts[i] = pos;
      ends[i] = stop;
      pos = stop + v.after.length;
      if (i === statusAt) {
        const d0 = text.charCodeAt(pos - v.after.length - 3) - 48;
        const d1 = text.charCodeAt(pos - v.after.length - 2) - 48;
        const d2 = text.charCodeAt(pos - v.after.length - 1) - 48;
        if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return MALFORMED;
        const status = d0 * 100 + d1 * 10 + d2;
        if (status !== interest) return status;
      }
    }
    return pos === end ? interest : MALFORMED;
  }

  return {
    status(text, start, end) {
      line = text;
      return scan(text, start, end);
    },
    peer: () => value(at.peer),
    forwardedFor: () => dash(value(at.forwardedFor)),
    time() {
      const i = at.time;
      if (vars[i]!.name === "time_local") return parseNginxTime(line, starts[i]!);
      return parseLogTime(value(i));
    },
    path(maxLength) {
      const raw = at.path >= 0 ? value(at.path) : at.request >= 0 ? pathOfRequest(value(at.request)) : "";
      return ownField(raw.slice(0, maxLength));
    },
    vhost: () => ownField(dash(value(at.vhost))),
  };
}
