import { SecarcError } from "../../common/errors.js";
import { QuoteFinder, clientField, ownField, parseNginxTime, requestPath, scanStatus, timeFieldStart } from "./nginx-log-parser.js";
import { CADDY_FIELDS, createJsonScanner, type JsonFieldPaths } from "./web-log-json.js";
import { MALFORMED, type WebLineScanner } from "./web-log-scanner.js";
import { compileTemplate, createTemplateScanner, VARIABLE_ROLES, type CompiledTemplate } from "./web-log-template.js";

/**
 * The web detector's `format:` compiled once into a scanner factory:
 * - "combined" (default): nginx's and Apache's combined format, by the
 *   hand-written scanner of nginx-log-parser.ts (the fastest path);
 * - "apache_vhost_combined": Apache's `%v:%p %h %l %u %t "%r" %>s %O
 *   "%{Referer}i" "%{User-Agent}i"`;
 * - "caddy_json": Caddy's JSON access log;
 * - "json": one JSON object per line, field paths from `jsonFields`;
 * - anything else: an nginx `log_format` value, text or JSON, as written in
 *   nginx.conf (`'$remote_addr - ...'`, optionally `escape=json` first and
 *   several quoted parts). A JSON one (`'{"addr":"$remote_addr",...}'`)
 *   becomes a "json" format whose field paths come from the template.
 */

export const NAMED_FORMATS = ["combined", "apache_vhost_combined", "caddy_json", "json"] as const;

export type CompiledWebFormat =
  | { type: "combined" }
  | { type: "template"; template: CompiledTemplate }
  /** `fixedKeys`: the keys come from an nginx template (no value can hold a key), so the first status key is the status. */
  | { type: "json"; fields: JsonFieldPaths; fixedKeys?: boolean };

const APACHE_VHOST_COMBINED = '$server_name:$server_port $remote_addr $ident $remote_user [$time_local] "$request" $status $bytes_sent "$http_referer" "$http_user_agent"';

/** The format's text from nginx.conf syntax: `escape=json` first, then one or more '...' parts. */
export function unquoteLogFormat(value: string): { escape: "default" | "json" | "none"; format: string } {
  let rest = value.trim();
  let escape: "default" | "json" | "none" = "default";
  const option = /^escape=(default|json|none)\s+/.exec(rest);
  if (option) {
    escape = option[1] as typeof escape;
    rest = rest.slice(option[0].length);
  }
  if (!rest.startsWith("'")) return { escape, format: rest };
  const parts = [...rest.matchAll(/'((?:[^'\\]|\\.)*)'\s*/g)];
  return { escape, format: parts.map((m) => m[1]!.replace(/\\(.)/g, "$1")).join("") };
}

/** The field paths of a JSON log_format: each `"key": "$var"` (or `$var` unquoted) whose variable has a role. */
export function jsonFieldsOfTemplate(format: string): JsonFieldPaths {
  const found: Record<string, string> = {};
  const stack: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"\s*:\s*(\{|"?\$\{?([A-Za-z0-9_]+)\}?"?)|\}/g;
  for (const m of format.matchAll(re)) {
    if (m[0] === "}") stack.pop();
    else if (m[2] === "{") stack.push(m[1]!);
    else {
      const role = VARIABLE_ROLES[m[3]!];
      if (role !== undefined && found[role] === undefined) found[role] = [...stack, m[1]!].join(".");
    }
  }
  for (const required of ["peer", "status", "time"]) {
    if (found[required] === undefined) throw new SecarcError("config_invalid", `log format: the JSON template has no ${required === "peer" ? "$remote_addr" : required === "status" ? "$status" : "$time_iso8601, $time_local or $msec"} value`);
  }
  return found as JsonFieldPaths;
}

/** Compiles a `format:` value (validated at config load: throws config_invalid). */
export function compileWebFormat(format: string, jsonFields: JsonFieldPaths): CompiledWebFormat {
  switch (format) {
    case "combined":
      return { type: "combined" };
    case "apache_vhost_combined":
      return { type: "template", template: compileTemplate(APACHE_VHOST_COMBINED, "backslash") };
    case "caddy_json":
      return { type: "json", fields: CADDY_FIELDS };
    case "json":
      return { type: "json", fields: jsonFields };
  }
  if (!format.includes("$")) throw new SecarcError("config_invalid", `format "${format}" is none of ${NAMED_FORMATS.join(", ")} and not an nginx log_format (no $variable)`);
  const { escape, format: text } = unquoteLogFormat(format);
  if (text.trimStart().startsWith("{")) return { type: "json", fields: jsonFieldsOfTemplate(text), fixedKeys: true };
  return { type: "template", template: compileTemplate(text, escape === "json" ? "backslash" : "hex") };
}

/** A new scanner of a compiled format (one per followed file: scanners hold the current line). */
export function createWebScanner(format: CompiledWebFormat, interest: number): WebLineScanner {
  if (format.type === "template") return createTemplateScanner(format.template, interest);
  if (format.type === "json") return createJsonScanner(format.fields, interest, format.fixedKeys ?? false);
  return createCombinedScanner();
}

/** The combined format through the hand-written scanner. */
function createCombinedScanner(): WebLineScanner {
  const quotes = new QuoteFinder();
  const shape = { open: 0, close: 0 };
  let line = "";
  let lineStart = 0;
  return {
    status(text, start, end) {
      line = text;
      lineStart = start;
      const status = scanStatus(text, start, end, quotes, shape);
      // Apache writes a quote inside the request as \": the request's end is then further on.
      if (status !== MALFORMED && text.charCodeAt(shape.close - 1) === 92) return MALFORMED;
      return status;
    },
    peer: () => clientField(line, lineStart, shape.open),
    forwardedFor: () => "",
    time() {
      const at = timeFieldStart(line, shape.open);
      return at < 0 ? Number.NaN : parseNginxTime(line, at);
    },
    path: (maxLength) => ownField(requestPath(line, shape.open, shape.close, maxLength)),
    vhost: () => "",
  };
}
