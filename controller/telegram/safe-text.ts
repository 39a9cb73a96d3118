/**
 * Text is bytes until proven text. Every string that comes from an agent, a
 * log line or a Telegram user passes through `safeText` before it is shown:
 * made valid UTF-8 (invalid bytes and lone surrogates become U+FFFD),
 * stripped of control and bidirectional-formatting characters (so a U+202E
 * cannot reverse what the operator reads), and cut on grapheme boundaries
 * (never inside a surrogate pair, an emoji ZWJ sequence or a combining mark)
 * with an ellipsis. `safeHtml` escapes the result for Telegram's HTML parse
 * mode. The renderers (alert message, digest, /alerts, /blocks, /allows,
 * /status, popups, audit) all use these two.
 */

/** Characters that change the reading direction of what follows (bidi embeddings, overrides, isolates, marks). */
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
/** C0 and C1 controls, DEL, line/paragraph separators: each becomes a space (words stay apart). */
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029]/g;
/** Invisible formatting that hides text: BOM / zero-width no-break space, interlinear annotations, object replacement. */
const INVISIBLE = /[\uFEFF\uFFF9-\uFFFC]/g;
const NEWLINE_TAB = /[\n\t\r]/g;
/** A lone surrogate (half of a pair without its other half). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const decoder = new TextDecoder("utf-8", { fatal: false });
const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

export interface SafeTextOptions {
  /** At most this many characters (UTF-16 code units, as Telegram counts), ellipsis included. Default: no limit. */
  max?: number;
  /** Keep line breaks (a prepared multi-line text); otherwise they become spaces (a field). Default: false. */
  keepNewlines?: boolean;
}

/** Whether a string is valid UTF-16 (no lone surrogates): what Telegram accepts as UTF-8 once encoded. */
export function isWellFormedText(text: string): boolean {
  LONE_SURROGATE.lastIndex = 0;
  return !LONE_SURROGATE.test(text);
}

/** Plain text safe to show: valid, no control or bidi characters, at most `max` characters. */
export function safeText(input: string | Uint8Array, options: SafeTextOptions = {}): string {
  let text = typeof input === "string" ? input.replace(LONE_SURROGATE, "\uFFFD") : decoder.decode(input);
  text = text.replace(BIDI, "").replace(INVISIBLE, "").replace(CONTROL, " ");
  text = options.keepNewlines ? text.replace(/\r\n?/g, "\n").replace(/\t/g, " ") : text.replace(NEWLINE_TAB, " ");
  return options.max === undefined ? text : cutText(text, options.max);
}

/** `safeText`, escaped for Telegram's HTML parse mode. */
export function safeHtml(input: string | Uint8Array, options: SafeTextOptions = {}): string {
  return escapeHtmlChars(safeText(input, options));
}

/** Escapes the three characters Telegram's HTML mode requires (`&`, `<`, `>`); does no cleaning. */
export function escapeHtmlChars(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Shortens text to at most `max` UTF-16 code units, ending with "…" when cut;
 * the cut falls between graphemes, so no emoji, surrogate pair or combining
 * sequence is split.
 */
export function cutText(text: string, max: number, ellipsis = "…"): string {
  if (text.length <= max) return text;
  const room = Math.max(0, max - ellipsis.length);
  let length = 0;
  let kept = "";
  for (const { segment } of segmenter.segment(text)) {
    if (length + segment.length > room) break;
    kept += segment;
    length += segment.length;
  }
  return max >= ellipsis.length ? `${kept}${ellipsis}` : kept;
}

/** Telegram's limit on an answerCallbackQuery text (a popup or toast), in characters. */
export const MAX_POPUP_CHARS = 200;

/** A popup's text (plain text, not HTML): safe and at most 200 characters. */
export function popupText(text: string): string {
  return safeText(text, { max: MAX_POPUP_CHARS, keepNewlines: true });
}
