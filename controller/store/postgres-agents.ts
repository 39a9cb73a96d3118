import type { PgOperations, PgQuery } from "./postgres-types.js";
import { agentRecord, agentState, type AgentRow, type AgentStateRow } from "./core-rows.js";
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
    run: async (q) => (await q<AgentStateRow[]>`SELECT agent_id, online, last_seen, revoked_at, detector_sources FROM agents ORDER BY agent_id`).map(agentState),
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
