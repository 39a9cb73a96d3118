import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { PgSql } from "../store/postgres-types.js";
import type { AgentClaim } from "./agent-sessions.js";

/**
 * The agents' last-seen times on PostgreSQL, and the clock skews measured
 * from their heartbeats, written for all of a replica's agents at once:
 * every stream notes its agent's newest message time here (at most every
 * half heartbeat interval, stream-writes.ts) and a new skew when it moved
 * by a second (clock-skew.ts), and every `everyMs` one statement writes
 * what was noted. Through the group
 * commit each would be a write of its own with its fence check and
 * savepoint, a few round trips each: at 5,000 agents heartbeating every
 * 15 s those alone took a replica's whole group commit on a loaded
 * machine, and new streams waited past the agents' connect timeout for
 * their Welcome. The skew measured from a heartbeat includes the
 * replica's own lag, which in a connect storm moves by more than a second
 * between heartbeats: it too was written again for every agent.
 *
 * The statement keeps the session fence: it share-locks the session row
 * of each agent and writes only where the noted epoch is still the agent's
 * live, unreleased session, so a replica that lost an agent never records
 * it seen. Last seen only moves forward (GREATEST). A failed write is
 * logged; the next heartbeats note the agents again.
 */
export interface LastSeenWriter {
  /** `claim`'s agent sent a message at `at` (ms): written at the next flush while the claim still holds the agent. */
  note(claim: AgentClaim, at: number): void;
  /** The clock skew measured for `claim`'s agent: written at the next flush while the claim still holds the agent. */
  noteSkew(claim: AgentClaim, skewMs: number): void;
  /** Writes what was noted now (the timer does this every everyMs); how many agents were written. */
  flush(): Promise<number>;
  /** Stops the timer after a last flush. */
  stop(): Promise<void>;
}

export interface LastSeenWriterOptions {
  sql: PgSql;
  logger: Logger;
  /** How often noted times are written. Default: 1 s. */
  everyMs?: number;
}

interface Noted {
  epoch: number;
  at: number | undefined;
  skewMs: number | undefined;
}

export function startLastSeenWriter(options: LastSeenWriterOptions): LastSeenWriter {
  const { sql, logger } = options;
  let noted = new Map<string, Noted>();
  let running: Promise<number> | undefined;

  async function write(batch: Map<string, Noted>): Promise<number> {
    if (batch.size === 0) return 0;
    const rows = JSON.stringify([...batch].map(([agent_id, n]) => ({ agent_id, epoch: n.epoch, at: n.at ?? null, skew: n.skewMs ?? null })));
    const written = await sql`
      WITH noted AS (SELECT * FROM jsonb_to_recordset(${rows}::text::jsonb) AS v(agent_id TEXT, epoch BIGINT, at BIGINT, skew BIGINT)),
      held AS (
        SELECT noted.agent_id, noted.at, noted.skew FROM noted JOIN agent_sessions s ON s.agent_id = noted.agent_id
        WHERE s.epoch = noted.epoch AND s.released_at IS NULL
        ORDER BY noted.agent_id FOR SHARE OF s
      )
      UPDATE agents a SET last_seen = GREATEST(a.last_seen, COALESCE(held.at, a.last_seen)), clock_skew_ms = COALESCE(held.skew, a.clock_skew_ms) FROM held WHERE a.agent_id = held.agent_id RETURNING a.agent_id`;
    return written.length;
  }

  const flush = (): Promise<number> => {
    if (running) return running.catch(() => 0).then(() => flush());
    const batch = noted;
    noted = new Map();
    running = write(batch).finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void flush().catch((err: unknown) => logger.warn({ err: describeError(err) }, "writing the agents' last-seen times failed; the next heartbeats note them again")), options.everyMs ?? 1_000);
  timer.unref();

  /** What is noted for `claim`'s agent; an older claim's notes give way to a newer one's. */
  const entry = (claim: AgentClaim): Noted | undefined => {
    const before = noted.get(claim.agentId);
    if (before && before.epoch > claim.epoch) return undefined;
    if (before && before.epoch === claim.epoch) return before;
    const fresh: Noted = { epoch: claim.epoch, at: undefined, skewMs: undefined };
    noted.set(claim.agentId, fresh);
    return fresh;
  };

  return {
    note(claim, at) {
      const n = entry(claim);
      if (n && (n.at === undefined || n.at < at)) n.at = at;
    },
    noteSkew(claim, skewMs) {
      const n = entry(claim);
      if (n) n.skewMs = skewMs;
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush().catch((err: unknown) => logger.warn({ err: describeError(err) }, "writing the agents' last-seen times at stop failed"));
    },
  };
}
