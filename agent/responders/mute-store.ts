import { statSync } from "node:fs";
import { join } from "node:path";
import { readJsonState, writeJsonState } from "./state-file.js";

/**
 * Time-boxed decisions that mute re-alerts ("allow 203.0.113.7 for 24h"),
 * kept in the state directory so they survive restarts. A mute has a scope
 * and a key:
 *
 * - "ip": an address (canonical form) allowed by ALLOW — detectors skip
 *   alerts about it (SSH logins, brute force, HTTP bursts) until it ends;
 * - "alert": an alert id ignored by IGNORE without an address — the agent
 *   may resolve it to the alert's subject (e.g. CPU) and mute that.
 *
 * Pure reads: `isMuted(scope, key, now)` takes the clock as an argument.
 */

export type MuteScope = "ip" | "alert";

export interface Mute {
  scope: MuteScope;
  key: string;
  /** ms since epoch. */
  until: number;
  /** The action that created it. */
  actionId: string;
}

export interface MuteStore {
  /** Records (or extends) a mute. */
  mute(mute: Mute): void;
  /** Whether `key` in `scope` is muted at `now`. */
  isMuted(scope: MuteScope, key: string, now: number): boolean;
  /** Mutes still in force at `now`. */
  active(now: number): Mute[];
}

export const MUTES_FILE = "mutes.json";

interface MuteFile {
  version: 1;
  mutes: Mute[];
}

/**
 * A mute store over STATE_DIR/mutes.json. Several instances (responders,
 * detectors) may share the file: each read checks the file's mtime and
 * size and reloads it when another instance wrote it.
 */
export function createMuteStore(stateDir: string, now: () => number = Date.now): MuteStore {
  const file = join(stateDir, MUTES_FILE);
  let cache: Mute[] = [];
  let stamp = "";
  const load = (): Mute[] => {
    let current = "absent";
    try {
      const st = statSync(file);
      current = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      // no file yet
    }
    if (current !== stamp) {
      cache = current === "absent" ? [] : readJsonState<MuteFile>(file, { version: 1, mutes: [] }).mutes;
      stamp = current;
    }
    return cache;
  };
  return {
    mute(mute) {
      const nowMs = now();
      const others = load().filter((m) => !(m.scope === mute.scope && m.key === mute.key) && m.until > nowMs);
      const previous = load().find((m) => m.scope === mute.scope && m.key === mute.key);
      const merged = previous !== undefined && previous.until > mute.until ? { ...mute, until: previous.until } : mute;
      writeJsonState(file, { version: 1, mutes: [...others, merged] } satisfies MuteFile);
    },
    isMuted(scope, key, now) {
      return load().some((m) => m.scope === scope && m.key === key && m.until > now);
    },
    active(now) {
      return load().filter((m) => m.until > now);
    },
  };
}
