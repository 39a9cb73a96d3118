/**
 * Counts events per key (a client IP) in a sliding window computed from the
 * events' own timestamps, and tracks one burst per key: it is raised when
 * the count reaches the warning threshold, escalated once when it reaches
 * the critical one, and resolved when the window empties (no event for a
 * whole window). Leaky-bucket style, as CrowdSec does it: there is no timer
 * per key; expiry is computed when a key is touched and by `sweep(now)`,
 * which one detector-wide timer (or the replay's clock) calls.
 *
 * Memory is bounded: timestamps are stored run-length encoded (equal
 * timestamps share one slot, so second-resolution logs need at most one
 * slot per second of window), at most `maxSlotsPerKey` slots per key (beyond
 * that, new events join the newest slot), and at most `maxKeys` keys (the
 * key idle longest is dropped, its burst resolved).
 *
 * An event counts while `now - t < windowMs`: with a 60 s window, events at
 * 12:00:00 and 12:00:59 are both inside at 12:00:59, and the first leaves at
 * 12:01:00.
 *
 * Time never goes backwards in a tracker: an event stamped earlier than the
 * newest event seen (a late line, or log times that jump back after a clock
 * change) counts as of that newest time. A jump back neither resolves open
 * bursts early nor keeps them open until the log's clock catches up; a jump
 * forward ends the windows it passes, as real time would.
 */

/** Severity level of a burst: 0 none yet, 1 warning, 2 critical. */
export type BurstLevel = 0 | 1 | 2;

export interface Burst<X> {
  readonly key: string;
  /** Events currently inside the window. */
  count: number;
  /** Highest count seen during this burst. */
  peak: number;
  /** Time of the first event of this burst (ms). */
  firstSeen: number;
  /** Time of the latest event (ms). */
  lastSeen: number;
  /** Highest level reached during this burst. */
  level: BurstLevel;
  /** Detector-owned data attached to the burst (alert id, recent paths...). */
  extra: X;
  /** Slot timestamps (ring, from `head`). */
  times: number[];
  /** Events per slot. */
  counts: number[];
  head: number;
}

export type BurstChange = "raised" | "escalated" | "resolved";

export interface BurstTrackerOptions<X> {
  /** Length of the sliding window in ms. */
  windowMs: number;
  /** Count at which a burst is raised as a warning (inclusive). */
  warning: number;
  /** Count at which a burst becomes critical (inclusive); above `warning`. */
  critical: number;
  /** Most keys tracked at once. Default: 100,000. */
  maxKeys?: number;
  /** Most timestamp slots per key. Default: 4,096. */
  maxSlotsPerKey?: number;
  /** Makes the detector-owned data of a new burst. */
  newExtra(key: string): X;
  /**
   * Called when a burst is raised, escalated or resolved; `at` is the event
   * time (raise, escalation) or the moment the window emptied (resolution).
   */
  onChange(change: BurstChange, burst: Burst<X>, at: number): void;
}

export interface BurstTracker<X> {
  /**
   * Counts one event for `key` at time `t` (ms); `touch` sees the burst
   * before any change is reported (to attach event details). Returns the burst.
   */
  record(key: string, t: number, touch?: (burst: Burst<X>) => void): Burst<X>;
  /** The burst of a key, if tracked. */
  get(key: string): Burst<X> | undefined;
  /** Resolves and forgets keys whose window has emptied by `now`. */
  sweep(now: number): void;
  /** Resolves every open burst and forgets all keys (end of a replay). */
  flush(): void;
  /** Keys currently tracked. */
  readonly size: number;
}

export function createBurstTracker<X>(options: BurstTrackerOptions<X>): BurstTracker<X> {
  const { windowMs, warning, critical, newExtra, onChange } = options;
  const maxKeys = options.maxKeys ?? 100_000;
  const maxSlots = options.maxSlotsPerKey ?? 4096;
  // Insertion order = order of last touch: the first entry is the idlest key.
  const keys = new Map<string, Burst<X>>();
  let nextSweepAt = -Infinity;
  /** The newest event time seen: the tracker's clock (see above). */
  let newest = -Infinity;

  function end(burst: Burst<X>): void {
    if (burst.level > 0) onChange("resolved", burst, burst.lastSeen + windowMs);
  }

  /** A new burst for `key`; the idlest key makes room when the table is full. */
  function open(key: string, t: number): Burst<X> {
    const idlest = keys.size >= maxKeys ? keys.values().next().value : undefined;
    if (idlest !== undefined) {
      keys.delete(idlest.key);
      end(idlest);
    }
    const burst: Burst<X> = { key, count: 0, peak: 0, firstSeen: t, lastSeen: t, level: 0, extra: newExtra(key), times: [], counts: [], head: 0 };
    keys.set(key, burst);
    return burst;
  }

  /** Resolves and forgets the keys idle for a whole window by `now`; returns `now`. */
  function sweep(now: number): number {
    for (const burst of keys.values()) {
      if (now - burst.lastSeen < windowMs) break;
      keys.delete(burst.key);
      end(burst);
    }
    return now;
  }

  return {
    get size() {
      return keys.size;
    },
    get: (key) => keys.get(key),
    sweep,
    flush() {
      for (const burst of keys.values()) end(burst);
      keys.clear();
    },
    record(key, stamped, touch) {
      const time = Math.max(stamped, newest);
      newest = time;
      if (time >= nextSweepAt) nextSweepAt = sweep(time) + 1000;
      let burst = keys.get(key);
      if (burst !== undefined && time - burst.lastSeen >= windowMs) {
        // The previous burst of this key ended before this event.
        keys.delete(key);
        end(burst);
        burst = undefined;
      }
      let t = time;
      if (burst === undefined) {
        burst = open(key, t);
      } else {
        keys.delete(key);
        keys.set(key, burst);
        // Late lines (a few ms out of order) count as of the latest time seen.
        if (t < burst.lastSeen) t = burst.lastSeen;
        expire(burst, t, windowMs);
      }
      countAt(burst, t, maxSlots);
      touch?.(burst);
      const level: BurstLevel = burst.count >= critical ? 2 : burst.count >= warning ? 1 : 0;
      if (level > burst.level) {
        const change: BurstChange = burst.level === 0 ? "raised" : "escalated";
        burst.level = level;
        onChange(change, burst, t);
      }
      return burst;
    },
  };
}

/** Forgets a burst's events older than the window before `now`. */
function expire<X>(burst: Burst<X>, now: number, windowMs: number): void {
  const limit = now - windowMs;
  const { times, counts } = burst;
  let head = burst.head;
  while (head < times.length && times[head]! <= limit) {
    burst.count -= counts[head]!;
    head += 1;
  }
  if (head > 64 && head * 2 > times.length) {
    times.splice(0, head);
    counts.splice(0, head);
    head = 0;
  }
  burst.head = head;
}

/** Counts one event at `t` (the same slot as the last when the time is equal or the slots are full). */
function countAt<X>(burst: Burst<X>, t: number, maxSlots: number): void {
  const { times, counts } = burst;
  const last = times.length - 1;
  if (last >= burst.head && (times[last] === t || times.length - burst.head >= maxSlots)) {
    counts[last] = counts[last]! + 1;
  } else {
    times.push(t);
    counts.push(1);
  }
  burst.count += 1;
  burst.lastSeen = t;
  if (burst.count > burst.peak) burst.peak = burst.count;
}
