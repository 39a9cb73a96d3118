import { toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Database as SqliteDatabase } from "better-sqlite3";
import { SecarcError } from "../../common/errors.js";
import { encodeHostFacts } from "../host/host-facts.js";
import { ActionOptionsSchema, ActionTargetSchema, OperatorSchema, type ActionResult } from "../../gen/secarc/v1/action_pb.js";
import { AlertSchema, AlertState, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { prepareCoreStatements } from "./sqlite-statements.js";
import { actionRecord, agentRecord, agentState, alertRecord, auditRecord, STATE_OF_RESULT, type ActionRow, type AgentRow, type AgentStateRow, type AlertRow, type AuditRow } from "./core-rows.js";
import type { AlertRecord, CreatedAction, NewAction, StoreOperations } from "./store.js";

/** StoreOperations as better-sqlite3 runs them: synchronous, each atomic (a savepoint inside a transaction). */
export type SyncOperations<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never };

type Upserted = Awaited<ReturnType<StoreOperations["upsertAlert"]>>;

/** The core tables' operations on `db`. */
export function createCoreOperations(db: SqliteDatabase): SyncOperations<StoreOperations> {
  const q = prepareCoreStatements(db);
  const bump = (alertId: string | undefined | null) => {
    if (alertId) q.bumpAlert.run(alertId);
  };

  const upsertAlert = db.transaction((agentId: string, alert: Alert, at: Date, body: Uint8Array | undefined): Upserted => {
    if (!alert.id) throw new SecarcError("input_invalid", "an alert without id cannot be stored");
    const existing = q.getAlert.get(alert.id) as AlertRow | undefined;
    if (existing && existing.agent_id !== agentId) {
      throw new SecarcError("refused", `alert ${alert.id} belongs to agent ${existing.agent_id}, not ${agentId}`);
    }
    const state = alert.state === AlertState.UNSPECIFIED ? AlertState.OPEN : alert.state;
    // The record is built from what was written rather than read back: the
    // link stores thousands of alerts a second.
    if (!existing) {
      q.insertAlert.run(alert.id, agentId, alert.revision, alert.kind, alert.severity, state, body ?? toBinary(AlertSchema, alert), at.getTime(), at.getTime(), at.getTime());
      return { outcome: "inserted", record: { alertId: alert.id, agentId, alert, receivedAt: at, severitySince: at, updatedAt: at, version: 1 } };
    }
    if (alert.revision <= existing.revision) return { outcome: "unchanged", record: alertRecord(existing) };
    // A revision that changes the severity (an escalation) restarts the severity's clock.
    const severitySince = alert.severity === existing.severity ? (existing.severity_since ?? existing.received_at) : at.getTime();
    q.updateAlert.run(alert.revision, alert.kind, alert.severity, state, body ?? toBinary(AlertSchema, alert), severitySince, at.getTime(), alert.id);
    const record: AlertRecord = { alertId: alert.id, agentId, alert, receivedAt: new Date(existing.received_at), severitySince: new Date(severitySince), updatedAt: at, version: existing.version + 1 };
    return { outcome: "updated", record };
  });

  const setRevokedSerials = db.transaction((serials: readonly string[], at: Date): string[] => {
    const revoked = new Set(serials);
    const marked: string[] = [];
    for (const row of q.agentsWithSerial.all() as Array<Pick<AgentRow, "agent_id" | "cert_serial" | "revoked_at">>) {
      const isRevoked = revoked.has(row.cert_serial!);
      if (isRevoked && row.revoked_at === null) {
        q.markRevoked.run(at.getTime(), row.agent_id);
        marked.push(row.agent_id);
      } else if (!isRevoked && row.revoked_at !== null) {
        q.markRevoked.run(null, row.agent_id);
      }
    }
    return marked;
  });

  const createAction = db.transaction((input: NewAction): CreatedAction => {
    // The first answer to an alert wins: checked and written in one transaction.
    const first = input.alertId ? (q.firstForAlert.get(input.alertId) as ActionRow | undefined) : undefined;
    if (first) return { created: false, existing: actionRecord(first) };
    q.insertAction.run(
      input.actionId,
      input.agentId,
      input.alertId ?? null,
      input.answer,
      toBinary(OperatorSchema, input.operator),
      input.requestedAt.getTime(),
      input.options ? toBinary(ActionOptionsSchema, input.options) : null,
      input.target ? toBinary(ActionTargetSchema, input.target) : null,
      input.policy ? input.policy.afterMs : null,
    );
    bump(input.alertId);
    return { created: true, action: actionRecord(q.getAction.get(input.actionId) as ActionRow) };
  });

  const markActionSent = db.transaction((actionId: string, at: Date): void => {
    const changed = q.markSent.run(at.getTime(), actionId).changes > 0;
    if (changed) bump((q.getAction.get(actionId) as ActionRow).alert_id);
  });

  const recordResult = db.transaction((agentId: string, result: ActionResult, at: Date): boolean => {
    // One clock for what operators see: the controller's. The result is
    // stamped with its receive time, and an expiry becomes receive time plus
    // the time the agent had left (its expires_at minus its finished_at), so
    // an agent an hour ahead or behind still shows the right remaining time.
    const agentFinishedAt = result.finishedAt ? timestampMs(result.finishedAt) : at.getTime();
    const finishedAt = at.getTime();
    const expiresAt = result.expiresAt ? finishedAt + Math.max(0, timestampMs(result.expiresAt) - agentFinishedAt) : null;
    const state = STATE_OF_RESULT[result.status] ?? "failed";
    const changed = q.recordResult.run(state, result.status, result.detail, result.dryRun ? 1 : 0, finishedAt, expiresAt, JSON.stringify(result.networks), result.actionId, agentId).changes > 0;
    if (changed) bump((q.getAction.get(result.actionId) as ActionRow).alert_id);
    return changed;
  });

  return {
    agentConnected(input) {
      q.insertAgent.run({
        agentId: input.agentId,
        version: input.version,
        hostname: input.hostname,
        addresses: JSON.stringify(input.addresses),
        actions: JSON.stringify(input.actions),
        detectors: JSON.stringify(input.detectors),
        at: input.at.getTime(),
        certSerial: input.certSerial ?? null,
        unavailable: JSON.stringify(input.unavailableAnswers ?? []),
        labels: JSON.stringify(input.labels ?? {}),
        optOut: input.fleetBlockOptOut ? 1 : 0,
        hostFacts: encodeHostFacts(input.hostFacts),
      });
      return agentRecord(q.getAgent.get(input.agentId) as AgentRow);
    },
    agentDisconnected: (agentId, at) => void q.agentOffline.run(at.getTime(), agentId),
    agentSeen: (agentId, at) => void q.agentSeen.run(at.getTime(), agentId),
    getAgent(agentId) {
      const row = q.getAgent.get(agentId) as AgentRow | undefined;
      return row ? agentRecord(row) : undefined;
    },
    listAgents: () => (q.listAgents.all() as AgentRow[]).map(agentRecord),
    listAgentStates: (ids) => ((ids ? q.agentStatesOf.all(JSON.stringify(ids)) : q.listAgentStates.all()) as AgentStateRow[]).map(agentState),
    setRevokedSerials: (serials, at) => setRevokedSerials(serials, at),
    setDetectorSources: (agentId, sources) => void q.setSources.run(JSON.stringify(sources), agentId),
    setClockSkew: (agentId, skewMs) => void q.setSkew.run(Math.round(skewMs), agentId),
    upsertAlert: (agentId, alert, at, body) => upsertAlert(agentId, alert, at, body),
    getAlert(alertId) {
      const row = q.getAlert.get(alertId) as AlertRow | undefined;
      return row ? alertRecord(row) : undefined;
    },
    listOpenAlerts: (limit) => (q.listOpenAlerts.all(limit) as AlertRow[]).map(alertRecord),
    listOpenAlertsOfKind: (kind) => (q.listOpenAlertsOfKind.all(kind) as AlertRow[]).map(alertRecord),
    createAction: (input) => createAction(input),
    getAction(actionId) {
      const row = q.getAction.get(actionId) as ActionRow | undefined;
      return row ? actionRecord(row) : undefined;
    },
    listUnfinishedActions: (agentId) => (q.listUnfinished.all(agentId) as ActionRow[]).map(actionRecord),
    listActionsForAlert: (alertId) => (q.listForAlert.all(alertId) as ActionRow[]).map(actionRecord),
    markActionSent: (actionId, at) => markActionSent(actionId, at),
    recordResult: (agentId, result, at) => recordResult(agentId, result, at),
    audit: (entry) => void q.insertAudit.run(entry.at.getTime(), entry.actor, entry.event, entry.detail),
    listAudit: (limit) => (q.listAudit.all(limit) as AuditRow[]).map(auditRecord),
  };
}

/** The async face of synchronous operations: each call goes through `run` (now, after a transaction, or inside one). */
export function asyncOperations<T extends object>(ops: SyncOperations<T>, run: <R>(op: () => R) => Promise<R>): T {
  const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(ops) as Array<[string, (...args: unknown[]) => unknown]>) {
    wrapped[name] = (...args) => run(() => fn(...args));
  }
  return wrapped as T;
}
