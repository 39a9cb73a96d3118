import { kindNames } from "./alert-kinds.js";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { parseDuration } from "../../common/duration.js";

/**
 * Silences: while one is in force, the alerts it matches are stored (and
 * listed by /alerts) but not posted; when it ends, the ones still open are
 * posted as one digest. Pure: every function takes the time it needs.
 */

export type { Silence, SilenceMatcher, SilenceOrigin } from "../store/silence-store.js";
import type { Silence, SilenceMatcher } from "../store/silence-store.js";

/** What a silence looks at in an alert. */
export interface SilenceSubject {
  agentId: string;
  labels: Readonly<Record<string, string>>;
  kind: AlertKind;
}

/** Alert kinds as written in `/silence` and in the config's windows: every kind's catalog name. */
export const silenceKindNames = kindNames;

export type SilenceKindName = keyof typeof silenceKindNames;

/** The longest silence `/silence` accepts. */
export const MAX_SILENCE_MS = 30 * 86_400_000;

/** When a silence stops being in force: its end, or when it was ended early. */
export function silenceEnd(silence: Silence): number {
  return silence.endedAt === undefined ? silence.endsAt : Math.min(silence.endsAt, silence.endedAt);
}

/** Whether the silence is in force at `now`. */
export function silenceActive(silence: Silence, now: number): boolean {
  return silence.startsAt <= now && now < silenceEnd(silence);
}

export function matchesSilence(matcher: SilenceMatcher, subject: SilenceSubject): boolean {
  if (matcher.agentId !== undefined && matcher.agentId !== subject.agentId) return false;
  if (matcher.kinds.length > 0 && !matcher.kinds.includes(subject.kind)) return false;
  for (const [key, value] of Object.entries(matcher.labels)) if (subject.labels[key] !== value) return false;
  return true;
}

/** The silence in force at `now` that covers the subject and lasts longest; undefined when none does. */
export function silencing(silences: readonly Silence[], subject: SilenceSubject, now: number): Silence | undefined {
  let found: Silence | undefined;
  for (const silence of silences) {
    if (!silenceActive(silence, now) || !matchesSilence(silence.matcher, subject)) continue;
    if (!found || silenceEnd(silence) > silenceEnd(found)) found = silence;
  }
  return found;
}

/**
 * Until when an alert received at `receivedAt` was (or is) kept from the chats
 * by a silence, following silences that overlap one another; undefined when
 * no silence covered it when it came. The no-answer policy's clock starts there.
 */
export function heldUntil(silences: readonly Silence[], subject: SilenceSubject, receivedAt: number): number | undefined {
  let until: number | undefined;
  let at = receivedAt;
  // Bounded: each step moves `at` strictly forward to a later silence end.
  for (let step = 0; step <= silences.length; step++) {
    const covering = silencing(silences, subject, at);
    if (!covering) break;
    until = silenceEnd(covering);
    at = until;
  }
  return until;
}

/** Silences that ended at or before `now` and whose digest was not yet queued, oldest end first. */
export function endedUndigested(silences: readonly Silence[], now: number): Silence[] {
  return silences.filter((s) => s.digestedAt === undefined && silenceEnd(s) <= now).sort((a, b) => silenceEnd(a) - silenceEnd(b));
}

export type SilenceArgs = { ok: true; matcher: SilenceMatcher; durationMs: number } | { ok: false; problem: SilenceArgsProblem; token?: string };
export type SilenceArgsProblem = "no_target" | "no_duration" | "bad_duration" | "too_long" | "bad_label" | "bad_kind" | "extra";

const LABEL_KEY = /^[A-Za-z0-9_.-]{1,63}$/;
const LABEL_VALUE = /^[A-Za-z0-9_.:/-]{0,63}$/;
const AGENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Parses the arguments of `/silence TARGET DURATION [KIND ...]`: TARGET is a
 * server id, `label:KEY=VALUE[,KEY=VALUE]` or `all`; DURATION as in the
 * config ("2h", "30m", "1h30m"); KINDs are alert kinds (ssh_session, ...).
 */
export function parseSilenceArgs(text: string): SilenceArgs {
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  const [target, duration, ...kindTokens] = tokens;
  if (target === undefined) return { ok: false, problem: "no_target" };
  if (duration === undefined) return { ok: false, problem: "no_duration" };
  const matcher: { agentId?: string; labels: Record<string, string>; kinds: AlertKind[] } = { labels: {}, kinds: [] };
  if (target.startsWith("label:")) {
    for (const pair of target.slice("label:".length).split(",")) {
      const eq = pair.indexOf("=");
      const key = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (eq < 1 || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) return { ok: false, problem: "bad_label", token: target };
      matcher.labels[key] = value;
    }
  } else if (target !== "all") {
    if (!AGENT_ID.test(target)) return { ok: false, problem: "no_target", token: target };
    matcher.agentId = target;
  }
  let durationMs: number;
  try {
    durationMs = parseDuration(duration);
  } catch {
    return { ok: false, problem: "bad_duration", token: duration };
  }
  if (!/[a-z]$/.test(duration) || durationMs <= 0) return { ok: false, problem: "bad_duration", token: duration };
  if (durationMs > MAX_SILENCE_MS) return { ok: false, problem: "too_long", token: duration };
  for (const token of kindTokens) {
    const kind = silenceKindNames[token.toLowerCase() as SilenceKindName];
    if (kind === undefined) return { ok: false, problem: "bad_kind", token };
    if (!matcher.kinds.includes(kind)) matcher.kinds.push(kind);
  }
  return { ok: true, matcher, durationMs };
}

/** A matcher written back as `/silence` takes it: "web-1", "label:team=db ssh_session", "all". */
export function describeMatcher(matcher: SilenceMatcher): string {
  const labels = Object.entries(matcher.labels).map(([k, v]) => `${k}=${v}`);
  const target = [matcher.agentId, labels.length > 0 ? `label:${labels.join(",")}` : undefined].filter(Boolean).join(" ") || "all";
  const kinds = matcher.kinds.map((kind) => Object.keys(silenceKindNames).find((name) => silenceKindNames[name as SilenceKindName] === kind) ?? String(kind));
  return [target, ...kinds].join(" ");
}
