import { isWellFormedText } from "../controller/telegram/safe-text.js";

/**
 * The strict checker of the fake Bot API: it refuses what Telegram refuses,
 * with Telegram's descriptions — text that is not valid UTF-8, HTML that
 * Telegram's parser rejects (unknown tags, unbalanced tags, unescaped `<` or
 * `&`), text empty or longer than 4096 characters after entity parsing,
 * callback_data outside 1..64 bytes, answerCallbackQuery texts over 200
 * characters, and inline keyboards of the wrong shape.
 *
 * One point is stricter than Telegram's servers and follows its documentation
 * instead: a `&` that does not start one of the four named entities or a
 * numeric one is refused (the servers keep it as text; the Bot API manual
 * says it must be escaped).
 */

export interface InlineKeyboardMarkup {
  inline_keyboard: Array<Array<{ text: string; callback_data?: string }>>;
}

export const MAX_TEXT = 4096;
export const MAX_CALLBACK_BYTES = 64;
export const MAX_CALLBACK_ANSWER = 200;
const TAGS = new Set(["b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji"]);
const BUTTON_ACTIONS = ["callback_data", "url", "web_app", "login_url", "switch_inline_query", "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay"];

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

const utf8 = new TextEncoder();
const byteOffset = (text: string, index: number) => utf8.encode(text.slice(0, index)).length;
const entities = (why: string) => new ApiError(400, `Bad Request: can't parse entities: ${why}`);

/** A message text (sendMessage, editMessageText): returns it when Telegram would accept it. */
export function checkText(params: Record<string, unknown>): string {
  const text = typeof params.text === "string" ? params.text : "";
  if (!isWellFormedText(text)) throw new ApiError(400, "Bad Request: text must be encoded in UTF-8");
  const visible = params.parse_mode === "HTML" ? parseHtml(text) : text;
  if (visible.trim().length === 0) throw new ApiError(400, "Bad Request: message text is empty");
  if (visible.length > MAX_TEXT) throw new ApiError(400, "Bad Request: message is too long");
  return text;
}

/** An answerCallbackQuery's text: at most 200 characters, valid UTF-8. */
export function checkCallbackAnswer(params: Record<string, unknown>): string | undefined {
  if (params.text === undefined) return undefined;
  const text = String(params.text);
  if (!isWellFormedText(text)) throw new ApiError(400, "Bad Request: text must be encoded in UTF-8");
  if (text.length > MAX_CALLBACK_ANSWER) throw new ApiError(400, "Bad Request: MESSAGE_TOO_LONG");
  return text;
}

/**
 * Telegram's HTML parse mode, as its parser reads it; returns the visible
 * text (tags removed, entities decoded) or throws its refusal.
 */
export function parseHtml(html: string): string {
  const stack: Array<{ tag: string; at: number }> = [];
  let visible = "";
  let i = 0;
  while (i < html.length) {
    const c = html[i]!;
    if (c === "&") {
      const entity = /^&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-f]{1,6});/i.exec(html.slice(i, i + 12));
      if (!entity) throw entities(`Character entity expected at byte offset ${byteOffset(html, i)}`);
      visible += decodeEntity(entity[1]!);
      i += entity[0].length;
      continue;
    }
    if (c !== "<") {
      visible += c;
      i++;
      continue;
    }
    const end = tagEnd(html, i);
    if (end < 0) throw entities(`Unclosed start tag at byte offset ${byteOffset(html, i)}`);
    const inner = html.slice(i + 1, end);
    if (inner.startsWith("/")) {
      const name = inner.slice(1).trim().toLowerCase();
      const open = stack.pop();
      if (!open) throw entities(`Unexpected end tag at byte offset ${byteOffset(html, i)}`);
      if (name !== "" && name !== open.tag) throw entities(`Unmatched end tag at byte offset ${byteOffset(html, i)}, expected "</${open.tag}>", found "</${name}>"`);
    } else {
      const name = /^[^\s/>]*/.exec(inner)![0].toLowerCase();
      if (!TAGS.has(name)) throw entities(`Unsupported start tag "${name}" at byte offset ${byteOffset(html, i)}`);
      if (name === "span" && !/\bclass\s*=\s*["']?tg-spoiler\b/i.test(inner)) throw entities(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(html, i)}`);
      stack.push({ tag: name, at: i });
    }
    i = end + 1;
  }
  const open = stack.pop();
  if (open) throw entities(`Can't find end tag corresponding to start tag "${open.tag}"`);
  return visible;
}

/** Where the tag starting at `start` ends ('>' outside quoted attribute values), or -1. */
function tagEnd(html: string, start: number): number {
  let quote: string | undefined;
  for (let j = start + 1; j < html.length; j++) {
    const ch = html[j]!;
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === ">") return j;
  }
  return -1;
}

function decodeEntity(name: string): string {
  switch (name.toLowerCase()) {
    case "lt":
      return "<";
    case "gt":
      return ">";
    case "amp":
      return "&";
    case "quot":
      return '"';
  }
  const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
  return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : "\uFFFD";
}

/** An inline keyboard: rows of buttons, each with a non-empty text and one action; callback_data 1..64 bytes. */
export function checkMarkup(value: unknown): InlineKeyboardMarkup | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const markup = parseJson(value) as InlineKeyboardMarkup;
  if (!markup || typeof markup !== "object" || !Array.isArray(markup.inline_keyboard)) throw new ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object");
  for (const row of markup.inline_keyboard) {
    if (!Array.isArray(row)) throw new ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Array");
    for (const button of row as unknown[]) {
      if (!button || typeof button !== "object") throw new ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object");
      const b = button as Record<string, unknown>;
      if (typeof b.text !== "string") throw new ApiError(400, "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String");
      if (!isWellFormedText(b.text)) throw new ApiError(400, "Bad Request: can't parse inline keyboard button: text must be encoded in UTF-8");
      if (b.text.trim().length === 0) throw new ApiError(400, "Bad Request: BUTTON_TEXT_EMPTY");
      const actions = BUTTON_ACTIONS.filter((key) => b[key] !== undefined);
      if (actions.length === 0) throw new ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
      if (b.callback_data !== undefined) {
        const data = b.callback_data;
        if (typeof data !== "string" || !isWellFormedText(data) || data.length === 0 || Buffer.byteLength(data) > MAX_CALLBACK_BYTES) throw new ApiError(400, "Bad Request: BUTTON_DATA_INVALID");
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
