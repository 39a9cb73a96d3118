import type { IncomingMessage } from "node:http";

/**
 * Request handling of the fake Bot API: body parsing as telegraf sends it
 * (JSON, form, multipart) and the checks Telegram itself makes (HTML parse
 * mode, text length, inline keyboards, callback data size).
 */

export interface InlineKeyboardMarkup {
  inline_keyboard: Array<Array<{ text: string; callback_data?: string }>>;
}

const MAX_TEXT = 4096;
const MAX_CALLBACK_BYTES = 64;
const ALLOWED_TAGS = new Set(["b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a", "tg-spoiler", "blockquote"]);

/** An error answer of the Bot API: HTTP status and description. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly description: string,
    readonly parameters?: Record<string, unknown>,
  ) {
    super(description);
  }
}

export function checkText(params: Record<string, unknown>): string {
  const text = typeof params.text === "string" ? params.text : "";
  if (text.length === 0) throw new ApiError(400, "Bad Request: message text is empty");
  if (params.parse_mode === "HTML") checkHtml(text);
  const visible = params.parse_mode === "HTML" ? visibleLength(text) : text.length;
  if (visible > MAX_TEXT) throw new ApiError(400, "Bad Request: message is too long");
  return text;
}

/** Refuses what Telegram refuses in HTML mode: unknown tags, unbalanced tags, bare '<' or unknown entities. */
function checkHtml(text: string): void {
  const stack: string[] = [];
  const token = /<\/?([a-z-]+)(\s[^>]*)?>|<|&(#\d+|#x[0-9a-f]+|[a-z]+);|&/gi;
  for (const match of text.matchAll(token)) {
    const whole = match[0];
    if (whole === "<") throw new ApiError(400, `Bad Request: can't parse entities: unsupported start tag at byte offset ${match.index}`);
    if (whole === "&") throw new ApiError(400, `Bad Request: can't parse entities: unexpected & at byte offset ${match.index}`);
    if (whole.startsWith("&")) {
      if (!/^&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);$/i.test(whole)) throw new ApiError(400, `Bad Request: can't parse entities: unsupported entity ${whole}`);
      continue;
    }
    const tag = match[1]!.toLowerCase();
    if (!ALLOWED_TAGS.has(tag)) throw new ApiError(400, `Bad Request: can't parse entities: unsupported start tag "${tag}"`);
    if (whole.startsWith("</")) {
      if (stack.pop() !== tag) throw new ApiError(400, `Bad Request: can't parse entities: unmatched end tag "${tag}"`);
    } else stack.push(tag);
  }
  if (stack.length > 0) throw new ApiError(400, `Bad Request: can't parse entities: can't find end tag corresponding to start tag "${stack[stack.length - 1]}"`);
}

function visibleLength(html: string): number {
  return html.replace(/<[^>]*>/g, "").replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, "x").length;
}

export function checkMarkup(value: unknown): InlineKeyboardMarkup | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const markup = parseJson(value) as InlineKeyboardMarkup;
  if (!markup || !Array.isArray(markup.inline_keyboard)) throw new ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object");
  for (const row of markup.inline_keyboard) {
    for (const button of row) {
      if (typeof button.text !== "string" || button.text.length === 0) throw new ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard");
      if (button.callback_data !== undefined && (typeof button.callback_data !== "string" || Buffer.byteLength(button.callback_data) > MAX_CALLBACK_BYTES || button.callback_data.length === 0)) {
        throw new ApiError(400, "Bad Request: BUTTON_DATA_INVALID");
      }
    }
  }
  return markup.inline_keyboard.length === 0 ? undefined : markup;
}

export function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new ApiError(400, "Bad Request: can't parse JSON");
  }
}

export async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString("utf8");
  if (body.length === 0) return {};
  const type = req.headers["content-type"] ?? "";
  if (type.includes("application/json")) return JSON.parse(body) as Record<string, unknown>;
  if (type.includes("application/x-www-form-urlencoded")) return Object.fromEntries(new URLSearchParams(body));
  if (type.includes("multipart/form-data")) return parseMultipart(body, type);
  return JSON.parse(body) as Record<string, unknown>;
}

function parseMultipart(body: string, type: string): Record<string, unknown> {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
  const mark = boundary?.[1] ?? boundary?.[2];
  if (!mark) throw new Error("no boundary");
  const result: Record<string, unknown> = {};
  for (const part of body.split(`--${mark}`)) {
    const name = /name="([^"]+)"/.exec(part)?.[1];
    const split = part.indexOf("\r\n\r\n");
    if (!name || split < 0) continue;
    result[name] = part.slice(split + 4).replace(/\r\n$/, "");
  }
  return result;
}
