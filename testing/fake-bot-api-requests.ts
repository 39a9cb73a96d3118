import type { IncomingMessage } from "node:http";

import { ApiError } from "./fake-bot-api-checks.js";

export { ApiError, checkCallbackAnswer, checkMarkup, checkText, parseJson, type InlineKeyboardMarkup } from "./fake-bot-api-checks.js";

/**
 * Request handling of the fake Bot API: body parsing as telegraf sends it
 * (JSON, form, multipart). A body that is not valid UTF-8 is refused as
 * Telegram refuses it; the checks of its fields are in fake-bot-api-checks.ts.
 */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body: string;
  try {
    body = strictUtf8.decode(Buffer.concat(chunks));
  } catch {
    throw new ApiError(400, "Bad Request: text must be encoded in UTF-8");
  }
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
