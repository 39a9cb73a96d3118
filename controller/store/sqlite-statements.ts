import type { Database as SqliteDatabase } from "better-sqlite3";
import { AlertState } from "../../gen/secarc/v1/alert_pb.js";
import { AGENT_STATE_COLUMNS } from "./core-rows.js";

const ALERT_COLUMNS = "alert_id, agent_id, revision, severity, body, received_at, severity_since, updated_at, version";

/** The core tables' statements, prepared once per open store. */
export function prepareCoreStatements(db: SqliteDatabase) {
  return {
    getAgent: db.prepare("SELECT * FROM agents WHERE agent_id = ?"),
    listAgents: db.prepare("SELECT * FROM agents ORDER BY agent_id"),
    listAgentStates: db.prepare(`SELECT ${AGENT_STATE_COLUMNS} FROM agents ORDER BY agent_id`),
    agentStatesOf: db.prepare(`SELECT ${AGENT_STATE_COLUMNS} FROM agents WHERE agent_id IN (SELECT value FROM json_each(?)) ORDER BY agent_id`),
    insertAgent: db.prepare(`INSERT INTO agents (agent_id, version, hostname, addresses, actions, detectors, online, first_seen, last_seen, connects, cert_serial, revoked_at, unavailable_answers, labels, fleet_block_opt_out, host_facts)
      VALUES (@agentId, @version, @hostname, @addresses, @actions, @detectors, 1, @at, @at, 1, @certSerial, NULL, @unavailable, @labels, @optOut, @hostFacts)
      ON CONFLICT(agent_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, addresses = excluded.addresses,
        actions = excluded.actions, detectors = excluded.detectors, online = 1, last_seen = excluded.last_seen, connects = connects + 1,
        unavailable_answers = excluded.unavailable_answers, labels = excluded.labels, fleet_block_opt_out = excluded.fleet_block_opt_out, host_facts = excluded.host_facts,
        cert_serial = COALESCE(excluded.cert_serial, cert_serial), revoked_at = NULL`),
    agentsWithSerial: db.prepare("SELECT agent_id, cert_serial, revoked_at FROM agents WHERE cert_serial IS NOT NULL"),
    markRevoked: db.prepare("UPDATE agents SET revoked_at = ? WHERE agent_id = ?"),
    agentOffline: db.prepare("UPDATE agents SET online = 0, last_seen = MAX(last_seen, ?) WHERE agent_id = ?"),
    agentSeen: db.prepare("UPDATE agents SET last_seen = MAX(last_seen, ?) WHERE agent_id = ?"),
    setSources: db.prepare("UPDATE agents SET detector_sources = ? WHERE agent_id = ?"),
    setSkew: db.prepare("UPDATE agents SET clock_skew_ms = ? WHERE agent_id = ?"),

    getAlert: db.prepare(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE alert_id = ?`),
    insertAlert: db.prepare(`INSERT INTO alerts (alert_id, agent_id, revision, kind, severity, state, body, received_at, severity_since, updated_at, version)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`),
    updateAlert: db.prepare(
      "UPDATE alerts SET revision = ?, kind = ?, severity = ?, state = ?, body = ?, severity_since = ?, updated_at = ?, version = version + 1 WHERE alert_id = ?",
    ),
    bumpAlert: db.prepare("UPDATE alerts SET version = version + 1 WHERE alert_id = ?"),
    listOpenAlerts: db.prepare(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE state <> ${AlertState.RESOLVED} ORDER BY received_at DESC, rowid DESC LIMIT ?`),
    listOpenAlertsOfKind: db.prepare(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE kind = ? AND state <> ${AlertState.RESOLVED} ORDER BY received_at, rowid`),

    insertAction: db.prepare(`INSERT INTO actions (action_id, agent_id, alert_id, answer, operator, requested_at, options, target, state, policy_after_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`),
    getAction: db.prepare("SELECT * FROM actions WHERE action_id = ?"),
    firstForAlert: db.prepare("SELECT * FROM actions WHERE alert_id = ? ORDER BY seq LIMIT 1"),
    listUnfinished: db.prepare("SELECT * FROM actions WHERE agent_id = ? AND state IN ('pending', 'sent') ORDER BY seq"),
    listForAlert: db.prepare("SELECT * FROM actions WHERE alert_id = ? ORDER BY seq"),
    markSent: db.prepare("UPDATE actions SET state = 'sent', sent_at = ? WHERE action_id = ? AND state = 'pending'"),
    recordResult: db.prepare(`UPDATE actions SET state = ?, result_status = ?, detail = ?, dry_run = ?, finished_at = ?, expires_at = ?, networks = ?
      WHERE action_id = ? AND agent_id = ? AND state IN ('pending', 'sent')`),

    insertAudit: db.prepare("INSERT INTO audit (at, actor, event, detail) VALUES (?, ?, ?, ?)"),
    listAudit: db.prepare("SELECT * FROM audit ORDER BY id DESC LIMIT ?"),
  };
}

export type CoreStatements = ReturnType<typeof prepareCoreStatements>;
