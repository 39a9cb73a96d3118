import type postgres from "postgres";
import type { PgOperations, PgQuery } from "./postgres-types.js";
import type { AgentRecord, HelloPrefetchPayload } from "./store.js";
import { AGENT_STATE_COLUMNS, agentRecord, agentState, type AgentRow, type AgentStateRow } from "./core-rows.js";
import { encodeHostFacts } from "../host/host-facts.js";

/** The agents table: one row per agent, created on its first connect. */
export const pgAgentOperations: PgOperations<
  "agentConnected" | "agentDisconnected" | "agentSeen" | "getAgent" | "listAgents" | "listAgentStates" | "setRevokedSerials" | "setDetectorSources" | "setClockSkew"
> = {
  agentConnected: {
    atomic: false,
    async run(q, input) {
      const [row] = await q<AgentRow[]>`
        INSERT INTO agents (agent_id, version, hostname, addresses, actions, detectors, online, first_seen, last_seen, connects, cert_serial, revoked_at, unavailable_answers, labels, fleet_block_opt_out, host_facts)
        VALUES (${input.agentId}, ${input.version}, ${input.hostname}, ${JSON.stringify(input.addresses)}, ${JSON.stringify(input.actions)},
          ${JSON.stringify(input.detectors)}, 1, ${input.at.getTime()}, ${input.at.getTime()}, 1, ${input.certSerial ?? null}, NULL,
          ${JSON.stringify(input.unavailableAnswers ?? [])}, ${JSON.stringify(input.labels ?? {})}, ${input.fleetBlockOptOut ? 1 : 0}, ${encodeHostFacts(input.hostFacts)})
        ON CONFLICT (agent_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, addresses = excluded.addresses,
          actions = excluded.actions, detectors = excluded.detectors, online = 1, last_seen = excluded.last_seen, connects = agents.connects + 1,
          unavailable_answers = excluded.unavailable_answers, labels = excluded.labels, fleet_block_opt_out = excluded.fleet_block_opt_out, host_facts = excluded.host_facts,
          cert_serial = COALESCE(excluded.cert_serial, agents.cert_serial), revoked_at = NULL
        RETURNING *`;
      return agentRecord(row!);
    },
  },
  agentDisconnected: {
    atomic: false,
    async run(q, agentId, at) {
      await q`UPDATE agents SET online = 0, last_seen = GREATEST(last_seen, ${at.getTime()}) WHERE agent_id = ${agentId}`;
    },
  },
  agentSeen: {
    atomic: false,
    async run(q, agentId, at) {
      await q`UPDATE agents SET last_seen = GREATEST(last_seen, ${at.getTime()}) WHERE agent_id = ${agentId}`;
    },
  },
  getAgent: {
    atomic: false,
    async run(q, agentId) {
      const [row] = await q<AgentRow[]>`SELECT * FROM agents WHERE agent_id = ${agentId}`;
      return row ? agentRecord(row) : undefined;
    },
  },
  listAgents: {
    atomic: false,
    run: async (q) => (await q<AgentRow[]>`SELECT * FROM agents ORDER BY agent_id`).map(agentRecord),
  },
  listAgentStates: {
    atomic: false,
    run: async (q, ids) =>
      (ids
        ? await q<AgentStateRow[]>`SELECT ${q.unsafe(AGENT_STATE_COLUMNS)} FROM agents WHERE agent_id = ANY(${q.array([...ids])}::text[]) ORDER BY agent_id`
        : await q<AgentStateRow[]>`SELECT ${q.unsafe(AGENT_STATE_COLUMNS)} FROM agents ORDER BY agent_id`
      ).map(agentState),
  },
  setRevokedSerials: { atomic: true, run: setRevokedSerials },
  setDetectorSources: {
    atomic: false,
    async run(q, agentId, sources) {
      await q`UPDATE agents SET detector_sources = ${JSON.stringify(sources)} WHERE agent_id = ${agentId}`;
    },
  },
  setClockSkew: {
    atomic: false,
    async run(q, agentId, skewMs) {
      await q`UPDATE agents SET clock_skew_ms = ${Math.round(skewMs)} WHERE agent_id = ${agentId}`;
    },
  },
};

/** Marks the agents whose last certificate is among `serials` (keeping the first time), unmarks the others; returns the newly marked. */
async function setRevokedSerials(q: PgQuery, serials: readonly string[], at: Date): Promise<string[]> {
  const list = [...serials];
  const marked = await q<Array<{ agent_id: string }>>`
    UPDATE agents SET revoked_at = ${at.getTime()}
    WHERE cert_serial = ANY(${list}::text[]) AND revoked_at IS NULL
    RETURNING agent_id`;
  await q`UPDATE agents SET revoked_at = NULL WHERE revoked_at IS NOT NULL AND (cert_serial IS NULL OR NOT (cert_serial = ANY(${list}::text[])))`;
  return marked.map((row) => row.agent_id).sort();
}

/** What the batch's Hello prefetch stored for one agent, until its write takes it (agentConnected, then setDetectorSources). */
interface PrefetchedHello {
  payload: HelloPrefetchPayload;
  record: AgentRecord;
  connectedTaken: boolean;
  sourcesTaken: boolean;
}
const prefetched = new WeakMap<postgres.TransactionSql, Map<string, PrefetchedHello>>();

/**
 * The Hellos of one group commit in one upsert, with their detector
 * sources, instead of two savepoints with a statement each per agent (a
 * reconnect herd is thousands of them). Only the first Hello of an agent
 * in the batch is prefetched; a second one runs on its own after it. Rows
 * go in agent id order.
 */
export async function prefetchHellos(tx: postgres.TransactionSql, payloads: readonly HelloPrefetchPayload[]): Promise<void> {
  const first = new Map<string, HelloPrefetchPayload>();
  for (const p of payloads) if (!first.has(p.input.agentId)) first.set(p.input.agentId, p);
  if (first.size === 0) return;
  const list = [...first.values()].sort((a, b) => (a.input.agentId < b.input.agentId ? -1 : a.input.agentId > b.input.agentId ? 1 : 0));
  const column = <T>(f: (input: HelloPrefetchPayload["input"], p: HelloPrefetchPayload) => T) => tx.array(list.map((p) => f(p.input, p)) as never[]);
  const rows = await tx<AgentRow[]>`
    INSERT INTO agents AS a (agent_id, version, hostname, addresses, actions, detectors, online, first_seen, last_seen, connects, cert_serial, revoked_at,
      unavailable_answers, labels, fleet_block_opt_out, host_facts, detector_sources)
    SELECT id, version, hostname, addresses, actions, detectors, 1, at, at, 1, serial, NULL, unavailable, labels, opt_out, facts, sources
    FROM unnest(${column((i) => i.agentId)}::text[], ${column((i) => i.version)}::text[], ${column((i) => i.hostname)}::text[],
      ${column((i) => JSON.stringify(i.addresses))}::text[], ${column((i) => JSON.stringify(i.actions))}::text[], ${column((i) => JSON.stringify(i.detectors))}::text[],
      ${column((i) => String(i.at.getTime()))}::bigint[], ${column((i) => i.certSerial ?? null)}::text[], ${column((i) => JSON.stringify(i.unavailableAnswers ?? []))}::text[],
      ${column((i) => JSON.stringify(i.labels ?? {}))}::text[], ${column((i) => (i.fleetBlockOptOut ? 1 : 0))}::int[], ${column((i) => encodeHostFacts(i.hostFacts) ?? null)}::text[],
      ${column((_i, p) => JSON.stringify(p.sources))}::text[])
      AS v(id, version, hostname, addresses, actions, detectors, at, serial, unavailable, labels, opt_out, facts, sources)
    ON CONFLICT (agent_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, addresses = excluded.addresses,
      actions = excluded.actions, detectors = excluded.detectors, online = 1, last_seen = excluded.last_seen, connects = a.connects + 1,
      unavailable_answers = excluded.unavailable_answers, labels = excluded.labels, fleet_block_opt_out = excluded.fleet_block_opt_out, host_facts = excluded.host_facts,
      cert_serial = COALESCE(excluded.cert_serial, a.cert_serial), revoked_at = NULL, detector_sources = excluded.detector_sources
    RETURNING *`;
  const cache = prefetched.get(tx) ?? new Map<string, PrefetchedHello>();
  prefetched.set(tx, cache);
  for (const row of rows) cache.set(row.agent_id, { payload: first.get(row.agent_id)!, record: agentRecord(row), connectedTaken: false, sourcesTaken: false });
}

/** The prefetched record for this very `input`, taken; undefined when its write must store it itself. */
export function takePrefetchedConnect(tx: postgres.TransactionSql, input: HelloPrefetchPayload["input"]): AgentRecord | undefined {
  const hit = prefetched.get(tx)?.get(input.agentId);
  if (!hit || hit.payload.input !== input || hit.connectedTaken) return undefined;
  hit.connectedTaken = true;
  return hit.record;
}

/** True when these very `sources` of `agentId` were stored by the prefetch (after its agentConnected was taken). */
export function takePrefetchedSources(tx: postgres.TransactionSql, agentId: string, sources: HelloPrefetchPayload["sources"]): boolean {
  const hit = prefetched.get(tx)?.get(agentId);
  if (!hit || hit.payload.sources !== sources || !hit.connectedTaken || hit.sourcesTaken) return false;
  hit.sourcesTaken = true;
  return true;
}

/** Agents whose prefetched Hello no write took whole: committing would record connects nobody made. */
export function untakenPrefetchedHellos(tx: postgres.TransactionSql): string[] {
  const cache = prefetched.get(tx);
  if (!cache) return [];
  prefetched.delete(tx);
  return [...cache].filter(([, hit]) => !hit.connectedTaken || !hit.sourcesTaken).map(([id]) => id);
}
