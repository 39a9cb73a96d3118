import { toBinary } from "@bufbuild/protobuf";
import { SecarcError } from "../../common/errors.js";
import { AlertSchema, AlertState, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import type postgres from "postgres";
import type { AlertPrefetchPayload, AlertRecord } from "./store.js";
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
  const state = stateOf(alert);
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

/** What the batch's alert prefetch found for one alert, until its write's upsertAlert takes it. */
const prefetched = new WeakMap<postgres.TransactionSql, Map<string, { payload: AlertPrefetchPayload; result: Upserted }>>();

/**
 * The alerts of one group commit in two statements instead of three round
 * trips each (savepoint, insert, release): the new ones inserted together,
 * and the rest read and locked together, so that a resend of a stored
 * revision (after a failover, most of them) is answered "unchanged" from
 * that read. Each write's upsertAlert then takes its result (the same
 * `alert` object); an alert the prefetch could not settle (a higher
 * revision, another agent's id, the same id twice in the batch) is left to
 * its write, which runs in its savepoint as without the prefetch. Rows go
 * in id order, so that two replicas storing the same alerts lock them in
 * the same order.
 */
export async function prefetchAlerts(tx: postgres.TransactionSql, payloads: readonly AlertPrefetchPayload[]): Promise<void> {
  const first = new Map<string, AlertPrefetchPayload>();
  for (const p of payloads) if (p.alert.id && !first.has(p.alert.id)) first.set(p.alert.id, p);
  if (first.size === 0) return;
  const list = [...first.values()].sort((a, b) => (a.alert.id < b.alert.id ? -1 : a.alert.id > b.alert.id ? 1 : 0));
  const cache = prefetched.get(tx) ?? new Map<string, { payload: AlertPrefetchPayload; result: Upserted }>();
  prefetched.set(tx, cache);
  const ms = list.map((p) => p.at.getTime());
  const bodies = list.map((p) => {
    const body = p.body ?? toBinary(AlertSchema, p.alert);
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  });
  const inserted = await tx<Array<{ alert_id: string }>>`
    INSERT INTO alerts (alert_id, agent_id, revision, kind, severity, state, body, received_at, severity_since, updated_at, version)
    SELECT id, agent, revision, kind, severity, state, body, at, at, at, 1
    FROM unnest(${tx.array(list.map((p) => p.alert.id))}::text[], ${tx.array(list.map((p) => p.agentId))}::text[],
      ${tx.array(list.map((p) => String(p.alert.revision)))}::bigint[], ${tx.array(list.map((p) => p.alert.kind))}::int[],
      ${tx.array(list.map((p) => p.alert.severity))}::int[], ${tx.array(list.map((p) => stateOf(p.alert)))}::int[],
      ${tx.array(bodies)}::bytea[], ${tx.array(ms.map(String))}::bigint[])
      AS v(id, agent, revision, kind, severity, state, body, at)
    ON CONFLICT (alert_id) DO NOTHING
    RETURNING alert_id`;
  const fresh = new Set(inserted.map((r) => r.alert_id));
  for (const id of fresh) {
    const p = first.get(id)!;
    cache.set(id, { payload: p, result: { outcome: "inserted", record: { alertId: id, agentId: p.agentId, alert: p.alert, receivedAt: p.at, severitySince: p.at, updatedAt: p.at, version: 1 } } });
  }
  const known = list.filter((p) => !fresh.has(p.alert.id)).map((p) => p.alert.id);
  if (known.length === 0) return;
  const rows = await tx<AlertRow[]>`SELECT ${tx.unsafe(ALERT_COLUMNS)} FROM alerts WHERE alert_id = ANY(${tx.array(known)}::text[]) ORDER BY alert_id FOR UPDATE`;
  for (const row of rows) {
    const p = first.get(row.alert_id)!;
    if (row.agent_id === p.agentId && p.alert.revision <= row.revision) cache.set(row.alert_id, { payload: p, result: { outcome: "unchanged", record: alertRecord(row) } });
  }
}

/** The prefetch's result for this very `alert` of `agentId`, taken (once); undefined when its write must store it itself. */
export function takePrefetchedAlert(tx: postgres.TransactionSql, agentId: string, alert: Alert): Upserted | undefined {
  const cache = prefetched.get(tx);
  const hit = cache?.get(alert.id);
  if (!hit || hit.payload.alert !== alert || hit.payload.agentId !== agentId) return undefined;
  cache!.delete(alert.id);
  return hit.result;
}

/** Alerts a prefetch inserted in `tx` that no write took: committing them would store alerts nobody was told of. */
export function untakenPrefetchedAlerts(tx: postgres.TransactionSql): string[] {
  const cache = prefetched.get(tx);
  if (!cache) return [];
  prefetched.delete(tx);
  return [...cache].filter(([, hit]) => hit.result.outcome === "inserted").map(([id]) => id);
}

const stateOf = (alert: Alert): AlertState => (alert.state === AlertState.UNSPECIFIED ? AlertState.OPEN : alert.state);
