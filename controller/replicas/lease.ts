import { performance } from "node:perf_hooks";
import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { PgQuery, PgSql } from "../store/postgres-types.js";

/**
 * A named lease in PostgreSQL (table `leases`): at most one replica holds
 * it at a time, for `ttlMs` after each renewal, and each new holder gets a
 * higher epoch (the fencing token). The Telegram voice is one: only its
 * holder polls getUpdates and sends or edits messages.
 *
 * Expiry is the database's clock; whether this replica may still act is its
 * own monotonic clock, counted from *before* the renewal was sent, so the
 * local deadline always falls before the one the database stored: a
 * replica frozen past its deadline (SIGSTOP, a long GC, a lost network)
 * finds `held()` false when it wakes, before it learns who took over.
 */
export interface LeaseOptions {
  sql: PgSql;
  logger: Logger;
  /** The lease's name, e.g. "telegram". */
  name: string;
  /** This replica (replica-id.ts). */
  holder: string;
  /** How long a renewal holds the lease. Default: 15 s. */
  ttlMs?: number;
  /** How often the holder renews, and a candidate tries (a candidate also right when the holder's lease expires). Default: a third of ttlMs. */
  renewEveryMs?: number;
  /** Called when this replica becomes the holder, with its epoch. */
  onAcquired?: (epoch: number) => void;
  /** Called when this replica stops being the holder (taken over, expired, or released). */
  onLost?: (epoch: number) => void;
  /** Whether the lease renews itself every renewEveryMs. Default: true; false when the caller drives it with tick(). */
  autoRenew?: boolean;
  /** Monotonic milliseconds. Default: performance.now. */
  monotonic?: () => number;
}

export interface Lease {
  /** The epoch while this replica holds the lease (and its local deadline has not passed); undefined otherwise. */
  held(): number | undefined;
  /** Throws a "fenced" SecarcError unless this replica holds the lease (at `epoch`, when given). Call before every send. */
  assertHeld(epoch?: number): number;
  /**
   * Inside a transaction: true when this replica holds the lease at `epoch`
   * by the database's clock; the lease row is share-locked until commit, so
   * no other replica takes the lease while the write is uncommitted.
   */
  check(q: PgQuery, epoch: number): Promise<boolean>;
  /** One renewal (or attempt) now; the timer does this every renewEveryMs. */
  tick(): Promise<number | undefined>;
  /** Stops renewing and gives the lease up at once (another replica takes it on its next try). */
  stop(): Promise<void>;
}

interface LeaseRow {
  epoch: number;
}

/** Takes or renews the lease in one statement: a live holder keeps its epoch, anyone taking over an expired one bumps it. */
export async function acquireLease(q: PgQuery, name: string, holder: string, ttlMs: number): Promise<number | undefined> {
  const [row] = await q<LeaseRow[]>`
    INSERT INTO leases AS l (name, holder, epoch, acquired_at, expires_at)
    VALUES (${name}, ${holder}, 1, secarc_now_ms(), secarc_now_ms() + ${ttlMs})
    ON CONFLICT (name) DO UPDATE SET
      epoch = CASE WHEN l.holder = excluded.holder AND l.expires_at > secarc_now_ms() THEN l.epoch ELSE l.epoch + 1 END,
      acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at > secarc_now_ms() THEN l.acquired_at ELSE excluded.acquired_at END,
      holder = excluded.holder,
      expires_at = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at <= secarc_now_ms()
    RETURNING epoch`;
  return row?.epoch;
}

/** How long lease `name` has left by the database's clock (0 when expired or absent). */
export async function leaseRemainingMs(q: PgQuery, name: string): Promise<number> {
  const [row] = await q<Array<{ remaining: number }>>`SELECT GREATEST(0, expires_at - secarc_now_ms())::int AS remaining FROM leases WHERE name = ${name}`;
  return row?.remaining ?? 0;
}

/** A candidate tries again this long after the holder's lease expires (the database's clock runs on while the answer travels). */
const AFTER_EXPIRY_MS = 20;

export function createLease(options: LeaseOptions): Lease {
  const { sql, logger, name, holder } = options;
  const ttlMs = options.ttlMs ?? 15_000;
  const renewEveryMs = options.renewEveryMs ?? Math.max(100, Math.floor(ttlMs / 3));
  const monotonic = options.monotonic ?? (() => performance.now());
  if (renewEveryMs >= ttlMs) throw new SecarcError("config_invalid", `lease ${name}: renewEveryMs (${renewEveryMs}) must be below ttlMs (${ttlMs})`);
  const log = logger.child({ lease: name, holder });
  let epoch: number | undefined;
  let deadline = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number | undefined> | undefined;
  /** A candidate's wait before its next try: until the holder's lease expires, at most renewEveryMs. */
  let candidateWaitMs = renewEveryMs;

  const lose = (why: string) => {
    if (epoch === undefined) return;
    const lost = epoch;
    epoch = undefined;
    log.warn({ epoch: lost, why }, `lease ${name} lost: ${why}`);
    options.onLost?.(lost);
  };
  const held = () => {
    if (epoch !== undefined && monotonic() >= deadline) lose("not renewed before its deadline");
    return epoch;
  };

  async function renew(): Promise<number | undefined> {
    const startedAt = monotonic();
    try {
      const got = await acquireLease(sql, name, holder, ttlMs);
      if (stopped) return undefined;
      if (got === undefined) {
        lose("another replica holds it");
        // A holder that died stops renewing: try again right when its lease expires, not up to renewEveryMs later.
        candidateWaitMs = Math.min(renewEveryMs, (await leaseRemainingMs(sql, name)) + AFTER_EXPIRY_MS);
        return undefined;
      }
      if (epoch !== undefined && got !== epoch) lose("it expired and was taken again");
      deadline = startedAt + ttlMs;
      if (held() === undefined && monotonic() < deadline) {
        epoch = got;
        log.info({ epoch: got }, `lease ${name} acquired`);
        options.onAcquired?.(got);
      }
      return held();
    } catch (err) {
      candidateWaitMs = renewEveryMs;
      log.warn({ err: describeError(err) }, `lease ${name}: renewal failed; retried in ${renewEveryMs} ms`);
      return held();
    }
  }

  const tick = () => (running ??= renew().finally(() => (running = undefined)));
  const loop = () => {
    if (stopped) return;
    void tick().finally(() => {
      if (stopped) return;
      // Wake at the local deadline too, so onLost fires even while the database is unreachable.
      const untilDeadline = epoch === undefined ? candidateWaitMs : Math.max(1, Math.min(renewEveryMs, deadline - monotonic()));
      timer = setTimeout(loop, untilDeadline);
      timer.unref();
    });
  };
  if (options.autoRenew ?? true) loop();
  else void tick();

  return {
    held,
    assertHeld(expected) {
      const current = held();
      if (current === undefined || (expected !== undefined && current !== expected)) {
        throw new SecarcError("fenced", `lease ${name}: this replica (${holder}) does not hold it${expected === undefined ? "" : ` at epoch ${expected}`}`);
      }
      return current;
    },
    async check(q, at) {
      const rows = await q`SELECT 1 FROM leases WHERE name = ${name} AND holder = ${holder} AND epoch = ${at} AND expires_at > secarc_now_ms() FOR SHARE`;
      return rows.length === 1;
    },
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
      const last = epoch;
      lose("released at stop");
      if (last === undefined) return;
      try {
        await sql`UPDATE leases SET expires_at = secarc_now_ms() WHERE name = ${name} AND holder = ${holder} AND epoch = ${last}`;
      } catch (err) {
        log.warn({ err: describeError(err) }, `lease ${name}: could not release it; it expires within ${ttlMs} ms`);
      }
    },
  };
}
