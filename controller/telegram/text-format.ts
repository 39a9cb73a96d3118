import type { Operator } from "../../gen/secarc/v1/action_pb.js";
import { isPolicyOperator } from "../domain/no-answer-policy.js";
import type { Translations } from "./i18n/translations.js";
import { cutText, safeHtml, safeText } from "./safe-text.js";

/** Telegram's limit on a message text, in UTF-16 code units after entity parsing. */
export const MAX_MESSAGE_CHARS = 4096;

/** Makes text safe (safe-text.ts: valid, no control or bidi characters, one line) and escapes it for Telegram's HTML parse mode. */
export function escapeHtml(text: string): string {
  return safeHtml(text);
}

/** Shortens untrusted plain text to `max` characters with an ellipsis, on grapheme boundaries; made safe (safe-text.ts). */
export function clip(text: string, max: number): string {
  return safeText(text, { max });
}

/**
 * Fits an HTML message into Telegram's limit: cut at a line boundary (so no
 * tag or entity is split: every tag we emit opens and closes on one line) and
 * end with the marker. Text that fits is returned unchanged.
 */
export function fitMessage(html: string, marker: string, max: number = MAX_MESSAGE_CHARS): string {
  if (html.length <= max) return html;
  const room = max - marker.length - 1;
  const lines = html.split("\n");
  const kept: string[] = [];
  let length = 0;
  for (const line of lines) {
    const add = (kept.length > 0 ? 1 : 0) + line.length;
    if (length + add > room) {
      if (kept.length === 0) kept.push(cutText(stripTags(line), room, "").replace(/&[#a-z0-9]*$/i, ""));
      break;
    }
    kept.push(line);
    length += add;
  }
  return `${kept.join("\n")}\n${marker}`;
}

/** Splits an HTML text of many lines into messages that each fit, cutting between lines. */
export function splitMessage(html: string, marker: string, max: number = MAX_MESSAGE_CHARS): string[] {
  const parts: string[] = [];
  let current = "";
  for (const line of html.split("\n")) {
    const fitted = line.length > max ? fitMessage(line, marker, max) : line;
    if (current && current.length + 1 + fitted.length > max) {
      parts.push(current);
      current = fitted;
    } else {
      current = current ? `${current}\n${fitted}` : fitted;
    }
  }
  if (current) parts.push(current);
  return parts;
}

function stripTags(line: string): string {
  return line.replace(/<[^>]*>/g, "");
}

/** "60 s", "2 min", "3 h", "2 d": how operators say durations. */
export function humanDuration(ms: number, t: Translations): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} ${t.units.s}`;
  if (s < 7_200) return `${Math.round(s / 60)} ${t.units.min}`;
  if (s < 172_800) return `${Math.round(s / 3_600)} ${t.units.h}`;
  return `${Math.round(s / 86_400)} ${t.units.d}`;
}

/** "2026-11-29 04:41 UTC". */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "@alice", else the display name, else "user 123"; the no-answer policy by its rule: plain text, not escaped. */
export function operatorName(operator: Operator | undefined): string {
  if (!operator) return "?";
  if (isPolicyOperator(operator)) return operator.displayName || operator.username;
  if (operator.username) return `@${operator.username}`;
  if (operator.displayName) return operator.displayName;
  return `user ${operator.telegramUserId.toString()}`;
}
