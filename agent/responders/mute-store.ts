import { statSync } from "node:fs";
import { join } from "node:path";
import { readJsonState, writeJsonState } from "./state-file.js";

/**
 * Time-boxed decisions that mute re-alerts ("allow 203.0.113.7 for 24h"),
 * kept in the state directory so they survive restarts. A mute has a scope
 * and a key:
 *
 * - "ip": an address (canonical form). Made by ALLOW it is an allow-list
 *   entry (`decision: "allow"`): the address is unblocked, its alerts are
 *   muted and BLOCK_IP on it is refused until the entry ends or REVOKE_ALLOW
 *   removes it. IGNORE naming an address only mutes (`decision: "ignore"`).
 * - "alert": an alert id ignored by IGNORE without an address (recorded;
 *   the agent's alert mute checks addresses only).
 *
 * An entry with `until: null` lasts until revoked. Pure reads: `isMuted`,
 * `find` and `active` take the clock as an argument.
 */

export type MuteScope = "ip" | "alert";

export interface Mute {
  scope: MuteScope;
  key: string;
  /** ms since epoch; null = until revoked. */
  until: number | null;
  /** The action that created it. */
  actionId: string;
  /** When it was first made (ms since epoch, the agent's clock; kept across a later extension), for logs and audits. */
  since?: number;
  /** "allow": an allow-list entry (ALLOW); "ignore": a mute only. Absent in files of older agents: treated as "allow". */
  decision?: "allow" | "ignore";
  /** Who decided, for refusal texts ("@op"). */
  by?: string;
}

export interface MuteStore {
  /** Records (or extends) a mute; a later decision never shortens an earlier one. */
  mute(mute: Mute): void;
  /** Whether `key` in `scope` is muted at `now`. */
  isMuted(scope: MuteScope, key: string, now: number): boolean;
  /** The mute of `key` in `scope` in force at `now`, if any. */
  find(scope: MuteScope, key: string, now: number): Mute | undefined;
  /** Removes the mute of `key` in `scope` (in force or not); returns the one in force at `now`, if there was one. */
  remove(scope: MuteScope, key: string, now: number): Mute | undefined;
  /** Mutes still in force at `now`. */
  active(now: number): Mute[];
}

export const MUTES_FILE = "mutes.json";

interface MuteFile {
  version: 1;
  mutes: Mute[];
}

/** Whether a mute is in force at `now`. */
export function inForce(mute: Mute, now: number): boolean {
  return mute.until === null || mute.until > now;
}

/** Whether a mute is an allow-list entry (made by ALLOW). */
export function isAllow(mute: Mute): boolean {
  return mute.scope === "ip" && mute.decision !== "ignore";
}

/** The later of two ends; null (until revoked) is the latest. */
function later(a: number | null, b: number | null): number | null {
  if (a === null || b === null) return null;
  return Math.max(a, b);
}

/**
 * A mute store over STATE_DIR/mutes.json. Several instances (responders,
 * the agent's alert mute) may share the file: each read checks the file's
 * mtime, size and inode and reloads it when another instance wrote it.
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
  const same = (m: Mute, scope: MuteScope, key: string) => m.scope === scope && m.key === key;
  const save = (mutes: Mute[]): void => {
    writeJsonState(file, { version: 1, mutes } satisfies MuteFile);
    cache = mutes;
    stamp = "";
  };
  return {
    mute(mute) {
      const nowMs = now();
      const all = load();
      const previous = all.find((m) => same(m, mute.scope, mute.key) && inForce(m, nowMs));
      const others = all.filter((m) => !same(m, mute.scope, mute.key) && inForce(m, nowMs));
      let merged = mute;
      if (previous !== undefined) {
        // The longer end wins; an allow stays an allow (an IGNORE does not downgrade it).
        const allow = isAllow(previous) || isAllow(mute);
        merged = { ...mute, until: later(previous.until, mute.until), decision: allow ? "allow" : "ignore" };
        // Alerts muted since the earlier decision stay muted in their later revisions.
        if (previous.since !== undefined || mute.since !== undefined) merged.since = Math.min(previous.since ?? Infinity, mute.since ?? Infinity);
        if (allow && !isAllow(mute) && previous.by !== undefined) merged.by = previous.by;
      }
      save([...others, merged]);
    },
    isMuted(scope, key, at) {
      return load().some((m) => same(m, scope, key) && inForce(m, at));
    },
    find(scope, key, at) {
      return load().find((m) => same(m, scope, key) && inForce(m, at));
    },
    remove(scope, key, at) {
      const all = load();
      const found = all.find((m) => same(m, scope, key) && inForce(m, at));
      if (!all.some((m) => same(m, scope, key))) return undefined;
      save(all.filter((m) => !same(m, scope, key) && inForce(m, at)));
      return found;
    },
    active(at) {
      return load().filter((m) => inForce(m, at));
    },
  };
}
