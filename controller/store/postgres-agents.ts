import type { Store } from "./store.js";
import type { AsyncMethods, PgQuery, PgSql } from "./postgres-types.js";
import { agentRecord, type AgentRow } from "./postgres-rows.js";

type AgentMethods = AsyncMethods<Pick<Store, "agentConnected" | "agentDisconnected" | "agentSeen" | "getAgent" | "listAgents" | "setRevokedSerials" | "setDetectorSources" | "setClockSkew">>;

/** The agents table: one row per agent, created on its first connect. */
export function createPgAgentMethods(sql: PgSql): AgentMethods {
  return {
    async agentConnected(input) {
      const [row] = await sql<AgentRow[]>`
        INSERT INTO agents (agent_id, version, hostname, addresses, actions, detectors, online, first_seen, last_seen, connects, cert_serial, revoked_at, unavailable_answers)
        VALUES (${input.agentId}, ${input.version}, ${input.hostname}, ${JSON.stringify(input.addresses)}, ${JSON.stringify(input.actions)},
          ${JSON.stringify(input.detectors)}, 1, ${input.at.getTime()}, ${input.at.getTime()}, 1, ${input.certSerial ?? null}, NULL,
          ${JSON.stringify(input.unavailableAnswers ?? [])})
        ON CONFLICT (agent_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, addresses = excluded.addresses,
          actions = excluded.actions, detectors = excluded.detectors, online = 1, last_seen = excluded.last_seen, connects = agents.connects + 1,
          unavailable_answers = excluded.unavailable_answers,
          cert_serial = COALESCE(excluded.cert_serial, agents.cert_serial), revoked_at = NULL
        RETURNING *`;
      return agentRecord(row!);
    },
    async agentDisconnected(agentId, at) {
      await sql`UPDATE agents SET online = 0, last_seen = GREATEST(last_seen, ${at.getTime()}) WHERE agent_id = ${agentId}`;
    },
    async agentSeen(agentId, at) {
      await sql`UPDATE agents SET last_seen = GREATEST(last_seen, ${at.getTime()}) WHERE agent_id = ${agentId}`;
    },
    async getAgent(agentId) {
      const [row] = await sql<AgentRow[]>`SELECT * FROM agents WHERE agent_id = ${agentId}`;
      return row ? agentRecord(row) : undefined;
    },
    async listAgents() {
      return (await sql<AgentRow[]>`SELECT * FROM agents ORDER BY agent_id`).map(agentRecord);
    },
    setRevokedSerials: (serials, at) => sql.begin((tx) => setRevokedSerials(tx, serials, at)),
    async setDetectorSources(agentId, sources) {
      await sql`UPDATE agents SET detector_sources = ${JSON.stringify(sources)} WHERE agent_id = ${agentId}`;
    },
    async setClockSkew(agentId, skewMs) {
      await sql`UPDATE agents SET clock_skew_ms = ${Math.round(skewMs)} WHERE agent_id = ${agentId}`;
    },
  };
}

/** Marks the agents whose last certificate is among `serials` (keeping the first time), unmarks the others; returns the newly marked. */
async function setRevokedSerials(tx: PgQuery, serials: readonly string[], at: Date): Promise<string[]> {
  const list = [...serials];
  const marked = await tx<Array<{ agent_id: string }>>`
    UPDATE agents SET revoked_at = ${at.getTime()}
    WHERE cert_serial = ANY(${list}::text[]) AND revoked_at IS NULL
    RETURNING agent_id`;
  await tx`UPDATE agents SET revoked_at = NULL WHERE revoked_at IS NOT NULL AND (cert_serial IS NULL OR NOT (cert_serial = ANY(${list}::text[])))`;
  return marked.map((row) => row.agent_id).sort();
}
