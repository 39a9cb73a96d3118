import { toBinary } from "@bufbuild/protobuf";
import { SecarcError } from "../../common/errors.js";
import { AlertSchema, AlertState, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type { AlertRecord } from "./store.js";
import type { PgOperations, PgQuery } from "./postgres-types.js";
import { ALERT_COLUMNS, alertRecord, type AlertRow } from "./core-rows.js";

type Upserted = { outcome: "inserted" | "updated" | "unchanged"; record: AlertRecord };

/** The alerts table: the highest revision of each alert, whole. */
export const pgAlertOperations: PgOperations<"upsertAlert" | "getAlert" | "listOpenAlerts" | "listOpenAlertsOfKind"> = {
  upsertAlert: { atomic: true, run: upsertAlert },
  getAlert: {
    atomic: false,
    async run(q, alertId) {
      const [row] = await q<AlertRow[]>`SELECT ${q.unsafe(ALERT_COLUMNS)} FROM alerts WHERE alert_id = ${alertId}`;
      return row ? alertRecord(row) : undefined;
    },
  },
  listOpenAlerts: {
    atomic: false,
    async run(q, limit) {
      const rows = await q<AlertRow[]>`SELECT ${q.unsafe(ALERT_COLUMNS)} FROM alerts WHERE state <> ${AlertState.RESOLVED}
        ORDER BY received_at DESC, seq DESC LIMIT ${limit}`;
      return rows.map(alertRecord);
    },
  },
  listOpenAlertsOfKind: {
    atomic: false,
    async run(q, kind) {
      const rows = await q<AlertRow[]>`SELECT ${q.unsafe(ALERT_COLUMNS)} FROM alerts WHERE kind = ${kind} AND state <> ${AlertState.RESOLVED}
        ORDER BY received_at, seq`;
      return rows.map(alertRecord);
    },
  },
};

/**
 * Inserts a new id, replaces a lower revision, ignores an equal or lower
 * one, in one transaction. The insert goes first (ON CONFLICT DO NOTHING)
 * and an existing row is then locked (FOR UPDATE), so two replicas storing
 * revisions of one alert at once are serialised: the higher one wins.
 */
export async function upsertAlert(tx: PgQuery, agentId: string, alert: Alert, at: Date, encoded?: Uint8Array): Promise<Upserted> {
  if (!alert.id) throw new SecarcError("input_invalid", "an alert without id cannot be stored");
  const state = alert.state === AlertState.UNSPECIFIED ? AlertState.OPEN : alert.state;
  const body = encoded ?? toBinary(AlertSchema, alert);
  const ms = at.getTime();
  const inserted = await tx`
    INSERT INTO alerts (alert_id, agent_id, revision, kind, severity, state, body, received_at, severity_since, updated_at, version)
    VALUES (${alert.id}, ${agentId}, ${alert.revision}, ${alert.kind}, ${alert.severity}, ${state}, ${body}, ${ms}, ${ms}, ${ms}, 1)
    ON CONFLICT (alert_id) DO NOTHING
    RETURNING alert_id`;
  if (inserted.length > 0) return { outcome: "inserted", record: { alertId: alert.id, agentId, alert, receivedAt: at, severitySince: at, updatedAt: at, version: 1 } };
  const [existing] = await tx<AlertRow[]>`SELECT ${tx.unsafe(ALERT_COLUMNS)} FROM alerts WHERE alert_id = ${alert.id} FOR UPDATE`;
  if (!existing) throw new SecarcError("unavailable", `alert ${alert.id} vanished while it was stored`, { retryable: true });
  if (existing.agent_id !== agentId) throw new SecarcError("refused", `alert ${alert.id} belongs to agent ${existing.agent_id}, not ${agentId}`);
  if (alert.revision <= existing.revision) return { outcome: "unchanged", record: alertRecord(existing) };
  // A revision that changes the severity (an escalation) restarts the severity's clock.
  const severitySince = alert.severity === existing.severity ? (existing.severity_since ?? existing.received_at) : ms;
  await tx`UPDATE alerts SET revision = ${alert.revision}, kind = ${alert.kind}, severity = ${alert.severity}, state = ${state}, body = ${body},
    severity_since = ${severitySince}, updated_at = ${ms}, version = version + 1 WHERE alert_id = ${alert.id}`;
  return {
    outcome: "updated",
    record: { alertId: alert.id, agentId, alert, receivedAt: new Date(existing.received_at), severitySince: new Date(severitySince), updatedAt: at, version: existing.version + 1 },
  };
}
