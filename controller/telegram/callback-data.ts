import { answerEntry } from "../domain/answers.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";

/**
 * What a button press asks for. Callback data comes back from Telegram as
 * untrusted input: it is decoded into one of these or refused.
 */
export type CallbackCommand =
  /** An answer tapped under an alert. */
  | { type: "answer"; alertId: string; answer: Answer }
  /** The confirming second tap of a destructive answer (reboot, shut down). */
  | { type: "confirm"; alertId: string; answer: Answer }
  /** Cancel a pending confirmation (or duration choice). */
  | { type: "cancel"; alertId: string }
  /** The second tap of Allow: for how long (shown after a first tap on Allow). */
  | { type: "allow"; alertId: string; duration: AllowDuration }
  /** Revoke the allow made by a done ALLOW action (from /allows). */
  | { type: "revoke"; actionId: string }
  /** Unblock the address blocked by a done BLOCK_IP action (from /blocks). */
  | { type: "unblock"; actionId: string }
  /** "Block on all servers" tapped under an alert: its address, on every agent that can block it. */
  | { type: "blockEverywhere"; alertId: string }
  /** "Unblock everywhere" (from /blocks): lifts a block on all servers. */
  | { type: "unblockEverywhere"; fleetId: string }
  /** Show an alert's own message (from /alerts or a digest). */
  | { type: "open"; alertId: string }
  /** A further page of /alerts, starting at `offset`. */
  | { type: "alerts"; offset: number };

/** How long an Allow lasts: the operator picks one of these. */
export type AllowDuration = "1h" | "24h" | "always";

/** An Allow's length in ms; 0 = until revoked (sent as a zero duration). */
export const ALLOW_DURATION_MS = { "1h": 3_600_000, "24h": 86_400_000, always: 0 } as const satisfies Record<AllowDuration, number>;

/** Allow durations in display order. */
export const ALLOW_DURATIONS: readonly AllowDuration[] = ["1h", "24h", "always"];

const ALLOW_CODES = { "1h": "h", "24h": "d", always: "a" } as const satisfies Record<AllowDuration, string>;

/** Telegram's limit on callback data, in bytes. */
export const MAX_CALLBACK_BYTES = 64;

const VERSION = "1";
const TYPE_CODES = { answer: "a", confirm: "c", cancel: "x", unblock: "u", open: "o", alerts: "p", allow: "l", revoke: "r", blockEverywhere: "f", unblockEverywhere: "e" } as const satisfies Record<CallbackCommand["type"], string>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RAW_ID = /^[A-Za-z0-9._-]{1,48}$/;
const COMPACT_UUID = /^~[A-Za-z0-9_-]{22}$/;
/** Answers that need a confirming second tap (the answer catalog's Reboot / Shut down). */
export function needsConfirmation(answer: Answer): boolean {
  return answerEntry(answer)?.secondTap === "confirm";
}

/** A lowercase UUID as "~" + 22 base64url characters; other ids as they are. Undefined when an id cannot fit. */
export function compactId(id: string): string | undefined {
  if (UUID.test(id)) return `~${Buffer.from(id.replace(/-/g, ""), "hex").toString("base64url")}`;
  if (RAW_ID.test(id) && !id.startsWith("~")) return id;
  return undefined;
}

/** The inverse of compactId; undefined for anything compactId cannot have produced. */
export function expandId(compact: string): string | undefined {
  if (COMPACT_UUID.test(compact)) {
    const bytes = Buffer.from(compact.slice(1), "base64url");
    if (bytes.length !== 16 || bytes.toString("base64url") !== compact.slice(1)) return undefined;
    const hex = bytes.toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  if (RAW_ID.test(compact)) return compact;
  return undefined;
}

/** Encodes a command; undefined when its id cannot be made to fit (such a button is not offered). */
export function encodeCallback(command: CallbackCommand): string | undefined {
  if (command.type === "alerts") {
    return Number.isSafeInteger(command.offset) && command.offset >= 0 && command.offset < 1_000_000 ? `${VERSION}|${TYPE_CODES.alerts}|${command.offset}` : undefined;
  }
  const id = compactId(commandId(command));
  if (id === undefined) return undefined;
  const parts: string[] = [VERSION, TYPE_CODES[command.type], id];
  if (command.type === "answer" || command.type === "confirm") parts.push(String(command.answer));
  if (command.type === "allow") parts.push(ALLOW_CODES[command.duration]);
  const data = parts.join("|");
  return Buffer.byteLength(data) <= MAX_CALLBACK_BYTES ? data : undefined;
}

/** The id a command carries. */
function commandId(command: Exclude<CallbackCommand, { type: "alerts" }>): string {
  switch (command.type) {
    case "unblock":
    case "revoke":
      return command.actionId;
    case "unblockEverywhere":
      return command.fleetId;
    default:
      return command.alertId;
  }
}

/** Decodes untrusted callback data; undefined means refuse it. */
export function decodeCallback(data: unknown): CallbackCommand | undefined {
  if (typeof data !== "string" || Buffer.byteLength(data) > MAX_CALLBACK_BYTES) return undefined;
  const parts = data.split("|");
  if (parts[0] !== VERSION) return undefined;
  const [, code, compact, answerText] = parts;
  if (code === TYPE_CODES.alerts) {
    return parts.length === 3 && compact !== undefined && /^(0|[1-9]\d{0,5})$/.test(compact) ? { type: "alerts", offset: Number(compact) } : undefined;
  }
  if (compact === undefined) return undefined;
  const id = expandId(compact);
  if (id === undefined) return undefined;
  switch (code) {
    case TYPE_CODES.answer:
    case TYPE_CODES.confirm: {
      if (parts.length !== 4 || answerText === undefined || !/^[1-9]\d?$/.test(answerText)) return undefined;
      const answer = Number(answerText) as Answer;
      // Unblock and revoke answer no alert: they come from /blocks and /allows with their own codes.
      if (Answer[answer] === undefined || answer === Answer.UNBLOCK_IP || answer === Answer.REVOKE_ALLOW) return undefined;
      if (code === TYPE_CODES.confirm) return needsConfirmation(answer) ? { type: "confirm", alertId: id, answer } : undefined;
      return { type: "answer", alertId: id, answer };
    }
    case TYPE_CODES.cancel:
      return parts.length === 3 ? { type: "cancel", alertId: id } : undefined;
    case TYPE_CODES.unblock:
      return parts.length === 3 ? { type: "unblock", actionId: id } : undefined;
    case TYPE_CODES.allow: {
      if (parts.length !== 4) return undefined;
      const duration = ALLOW_DURATIONS.find((d) => ALLOW_CODES[d] === answerText);
      return duration === undefined ? undefined : { type: "allow", alertId: id, duration };
    }
    case TYPE_CODES.revoke:
      return parts.length === 3 ? { type: "revoke", actionId: id } : undefined;
    case TYPE_CODES.blockEverywhere:
      return parts.length === 3 ? { type: "blockEverywhere", alertId: id } : undefined;
    case TYPE_CODES.unblockEverywhere:
      return parts.length === 3 ? { type: "unblockEverywhere", fleetId: id } : undefined;
    case TYPE_CODES.open:
      return parts.length === 3 ? { type: "open", alertId: id } : undefined;
    default:
      return undefined;
  }
}
