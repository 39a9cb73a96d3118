import Database from "better-sqlite3";
import type { Database as SqliteDatabase } from "better-sqlite3";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { SecarcError, describeError, isSecarcError } from "../../common/errors.js";
import { decodeHostFacts, encodeHostFacts } from "../host/host-facts.js";
import {
  ActionOptionsSchema,
  ActionTargetSchema,
  OperatorSchema,
  ResultStatus,
  type ActionResult,
  type Answer,
} from "../../gen/secarc/v1/action_pb.js";
import { AlertSchema, AlertState, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { coreMigrations } from "./core-schema.js";
import { migrate } from "./migrate.js";
import { checkStoreFile, damaged, probeStoreWrite, quickCheckStore } from "./store-check.js";
import { sqliteCode } from "./storage-errors.js";

export interface OpenStoreOptions {
  /** Accept a 0-byte file as a new store (`secarc controller --init`). Default: refuse it. */
  init?: boolean;
  /** The clock, for the start-up write check. Default: Date.now. */
  now?: () => number;
}
import type { ActionRecord, ActionState, AgentRecord, AlertRecord, AuditRecord, DetectorSourceRecord, NewAction, Store, UnavailableAnswerRecord } from "./store.js";
import { networksOf } from "./store.js";

/**
 * The SQLite Store. `db` is exposed so that other parts of the controller
 * (the Telegram bridge) keep their own tables, migrated as their own
 * component, in the same file.
 */
export interface SqliteStore extends Store {
  readonly db: SqliteDatabase;
  /** The storage error (disk full) the start-up write check met, if any: the store opened, but cannot be written yet. */
  readonly startWriteError: unknown;
  /**
   * Runs `fn` in one transaction: every store write inside it becomes durable
   * together, with one WAL sync. The link uses it to commit a batch of alerts
   * before acking all of them.
   */
  transaction<T>(fn: () => T): T;
}

interface AgentRow {
  agent_id: string; version: string; hostname: string; addresses: string; actions: string; detectors: string;
  online: number; first_seen: number; last_seen: number; connects: number; cert_serial: string | null; revoked_at: number | null; detector_sources: string; unavailable_answers: string; clock_skew_ms: number | null; labels: string; fleet_block_opt_out: number; host_facts: string | null;
}
interface AlertRow {
  alert_id: string; agent_id: string; revision: number; severity: number; body: Uint8Array; received_at: number; severity_since: number | null; updated_at: number; version: number;
}
interface ActionRow {
  action_id: string; agent_id: string; alert_id: string | null; answer: number; operator: Uint8Array; requested_at: number;
  options: Uint8Array | null; target: Uint8Array | null; state: string; sent_at: number | null; result_status: number | null;
  detail: string; dry_run: number; finished_at: number | null; expires_at: number | null; policy_after_ms: number | null; networks: string;
}
interface AuditRow { id: number; at: number; actor: string; event: string; detail: string }

const STATE_OF_RESULT: Record<ResultStatus, ActionState> = {
  [ResultStatus.UNSPECIFIED]: "failed",
  [ResultStatus.DONE]: "done",
  [ResultStatus.FAILED]: "failed",
  [ResultStatus.REFUSED]: "refused",
};

/**
 * Opens (creating if needed) the controller database at `path` and brings
 * the core tables up to date.
 *
 * Journal mode WAL with `synchronous = FULL`: every commit syncs the WAL to
 * disk before it returns. The link acknowledges an alert or a result only
 * after its commit, and the agent then forgets it, so a commit must survive
 * a power loss, not only a crash of the process (NORMAL would only give the
 * latter). The cost of one sync per commit is shared by batching: the link
 * commits the alerts that arrive together in one transaction.
 *
 * A store is checked before it is trusted: a 0-byte file is refused unless
 * `init`, the file and its directory must be writable, `PRAGMA quick_check`
 * must pass, a schema newer than this version is refused, and one real
 * write is committed. Every refusal names the file, what was found and the
 * fix (store-check.ts).
 */
export function openSqliteStore(path: string, options: OpenStoreOptions = {}): SqliteStore {
  checkStoreFile(path, options);
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(path);
    db.pragma("busy_timeout = 5000");
    quickCheckStore(db, path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    migrate(db, "core", coreMigrations);
  } catch (err) {
    db?.close();
    if (isSecarcError(err, "refused")) throw err;
    const code = sqliteCode(err) ?? "";
    if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") throw damaged(path, describeError(err), err);
    throw new SecarcError("unavailable", `cannot open the controller store ${path}: ${describeError(err)}`, { cause: err });
  }
  const startWriteError = probeStoreWrite(db, path, (options.now ?? Date.now)());

  const q = {
    getAgent: db.prepare("SELECT * FROM agents WHERE agent_id = ?"),
    listAgents: db.prepare("SELECT * FROM agents ORDER BY agent_id"),
    insertAgent: db.prepare(`INSERT INTO agents (agent_id, version, hostname, addresses, actions, detectors, online, first_seen, last_seen, connects, cert_serial, revoked_at, unavailable_answers, labels, fleet_block_opt_out, host_facts)
      VALUES (@agentId, @version, @hostname, @addresses, @actions, @detectors, 1, @at, @at, 1, @certSerial, NULL, @unavailable, @labels, @optOut, @hostFacts)
      ON CONFLICT(agent_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, addresses = excluded.addresses,
        actions = excluded.actions, detectors = excluded.detectors, online = 1, last_seen = excluded.last_seen, connects = connects + 1,
        unavailable_answers = excluded.unavailable_answers, labels = excluded.labels, fleet_block_opt_out = excluded.fleet_block_opt_out, host_facts = excluded.host_facts,
        cert_serial = COALESCE(excluded.cert_serial, cert_serial), revoked_at = NULL`),
    agentsWithSerial: db.prepare("SELECT agent_id, cert_serial, revoked_at FROM agents WHERE cert_serial IS NOT NULL"),
    markRevoked: db.prepare("UPDATE agents SET revoked_at = ? WHERE agent_id = ?"),
    listOpenAlertsOfKind: db.prepare(`SELECT alert_id, agent_id, revision, severity, body, received_at, severity_since, updated_at, version FROM alerts
      WHERE kind = ? AND state <> ${AlertState.RESOLVED} ORDER BY received_at, rowid`),
    agentOffline: db.prepare("UPDATE agents SET online = 0, last_seen = MAX(last_seen, ?) WHERE agent_id = ?"),
    agentSeen: db.prepare("UPDATE agents SET last_seen = MAX(last_seen, ?) WHERE agent_id = ?"),
    getAlert: db.prepare("SELECT alert_id, agent_id, revision, severity, body, received_at, severity_since, updated_at, version FROM alerts WHERE alert_id = ?"),
    insertAlert: db.prepare(`INSERT INTO alerts (alert_id, agent_id, revision, kind, severity, state, body, received_at, severity_since, updated_at, version)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`),
    updateAlert: db.prepare(
      "UPDATE alerts SET revision = ?, kind = ?, severity = ?, state = ?, body = ?, severity_since = ?, updated_at = ?, version = version + 1 WHERE alert_id = ?",
    ),
    bumpAlert: db.prepare("UPDATE alerts SET version = version + 1 WHERE alert_id = ?"),
    listOpenAlerts: db.prepare(`SELECT alert_id, agent_id, revision, severity, body, received_at, severity_since, updated_at, version FROM alerts
      WHERE state <> ${AlertState.RESOLVED} ORDER BY received_at DESC, rowid DESC LIMIT ?`),
    insertAction: db.prepare(`INSERT INTO actions (action_id, agent_id, alert_id, answer, operator, requested_at, options, target, state, policy_after_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`),
    getAction: db.prepare("SELECT * FROM actions WHERE action_id = ?"),
    listUnfinished: db.prepare("SELECT * FROM actions WHERE agent_id = ? AND state IN ('pending', 'sent') ORDER BY seq"),
    listForAlert: db.prepare("SELECT * FROM actions WHERE alert_id = ? ORDER BY seq"),
    markSent: db.prepare("UPDATE actions SET state = 'sent', sent_at = ? WHERE action_id = ? AND state = 'pending'"),
    recordResult: db.prepare(`UPDATE actions SET state = ?, result_status = ?, detail = ?, dry_run = ?, finished_at = ?, expires_at = ?, networks = ?
      WHERE action_id = ? AND agent_id = ? AND state IN ('pending', 'sent')`),
    insertAudit: db.prepare("INSERT INTO audit (at, actor, event, detail) VALUES (?, ?, ?, ?)"),
    listAudit: db.prepare("SELECT * FROM audit ORDER BY id DESC LIMIT ?"),
    setSources: db.prepare("UPDATE agents SET detector_sources = ? WHERE agent_id = ?"),
    setSkew: db.prepare("UPDATE agents SET clock_skew_ms = ? WHERE agent_id = ?"),
  };

  const agentRecord = (row: AgentRow): AgentRecord => ({
    agentId: row.agent_id,
    version: row.version,
    hostname: row.hostname,
    addresses: JSON.parse(row.addresses) as string[],
    actions: JSON.parse(row.actions) as Answer[],
    detectors: JSON.parse(row.detectors) as number[],
    online: row.online === 1,
    firstSeen: new Date(row.first_seen),
    lastSeen: new Date(row.last_seen),
    connects: row.connects,
    certSerial: row.cert_serial ?? undefined,
    revokedAt: row.revoked_at === null ? undefined : new Date(row.revoked_at),
    detectorSources: JSON.parse(row.detector_sources) as DetectorSourceRecord[],
    unavailableAnswers: JSON.parse(row.unavailable_answers) as UnavailableAnswerRecord[],
    clockSkewMs: row.clock_skew_ms ?? undefined,
    labels: JSON.parse(row.labels) as Record<string, string>,
    fleetBlockOptOut: row.fleet_block_opt_out === 1,
    hostFacts: decodeHostFacts(row.host_facts),
  });
  const alertRecord = (row: AlertRow): AlertRecord => ({
    alertId: row.alert_id,
    agentId: row.agent_id,
    alert: fromBinary(AlertSchema, row.body),
    receivedAt: new Date(row.received_at),
    severitySince: new Date(row.severity_since ?? row.received_at),
    updatedAt: new Date(row.updated_at),
    version: row.version,
  });
  const actionRecord = (row: ActionRow): ActionRecord => ({
    actionId: row.action_id,
    agentId: row.agent_id,
    alertId: row.alert_id ?? undefined,
    answer: row.answer as Answer,
    operator: fromBinary(OperatorSchema, row.operator),
    requestedAt: new Date(row.requested_at),
    options: row.options ? fromBinary(ActionOptionsSchema, row.options) : undefined,
    target: row.target ? fromBinary(ActionTargetSchema, row.target) : undefined,
    state: row.state as ActionState,
    sentAt: row.sent_at === null ? undefined : new Date(row.sent_at),
    resultStatus: row.result_status === null ? undefined : (row.result_status as ResultStatus),
    detail: row.detail,
    dryRun: row.dry_run === 1,
    finishedAt: row.finished_at === null ? undefined : new Date(row.finished_at),
    expiresAt: row.expires_at === null ? undefined : new Date(row.expires_at),
    ...networksOf(row.networks),
    ...(row.policy_after_ms === null ? {} : { policy: { afterMs: row.policy_after_ms } }),
  });
  const bump = (alertId: string | undefined | null) => {
    if (alertId) q.bumpAlert.run(alertId);
  };

  const upsertAlert = db.transaction((agentId: string, alert: Alert, at: Date): { outcome: "inserted" | "updated" | "unchanged"; record: AlertRecord } => {
    if (!alert.id) throw new SecarcError("input_invalid", "an alert without id cannot be stored");
    const existing = q.getAlert.get(alert.id) as AlertRow | undefined;
    if (existing && existing.agent_id !== agentId) {
      throw new SecarcError("refused", `alert ${alert.id} belongs to agent ${existing.agent_id}, not ${agentId}`);
    }
    const state = alert.state === AlertState.UNSPECIFIED ? AlertState.OPEN : alert.state;
    // The record is built from what was written rather than read back: the
    // link stores thousands of alerts a second.
    if (!existing) {
      q.insertAlert.run(alert.id, agentId, alert.revision, alert.kind, alert.severity, state, toBinary(AlertSchema, alert), at.getTime(), at.getTime(), at.getTime());
      return { outcome: "inserted", record: { alertId: alert.id, agentId, alert, receivedAt: at, severitySince: at, updatedAt: at, version: 1 } };
    }
    if (alert.revision <= existing.revision) return { outcome: "unchanged", record: alertRecord(existing) };
    // A revision that changes the severity (an escalation) restarts the severity's clock.
    const severitySince = alert.severity === existing.severity ? (existing.severity_since ?? existing.received_at) : at.getTime();
    q.updateAlert.run(alert.revision, alert.kind, alert.severity, state, toBinary(AlertSchema, alert), severitySince, at.getTime(), alert.id);
    return {
      outcome: "updated",
      record: { alertId: alert.id, agentId, alert, receivedAt: new Date(existing.received_at), severitySince: new Date(severitySince), updatedAt: at, version: existing.version + 1 },
    };
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

  const createAction = db.transaction((input: NewAction): ActionRecord => {
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
    return actionRecord(q.getAction.get(input.actionId) as ActionRow);
  });

  const markActionSent = db.transaction((actionId: string, at: Date) => {
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
    const changed = q.recordResult.run(STATE_OF_RESULT[result.status] ?? "failed", result.status, result.detail, result.dryRun ? 1 : 0, finishedAt, expiresAt, JSON.stringify(result.networks), result.actionId, agentId).changes > 0;
    if (changed) bump((q.getAction.get(result.actionId) as ActionRow).alert_id);
    return changed;
  });

  return {
    db,
    startWriteError,
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
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
    agentDisconnected(agentId, at) {
      q.agentOffline.run(at.getTime(), agentId);
    },
    agentSeen(agentId, at) {
      q.agentSeen.run(at.getTime(), agentId);
    },
    getAgent(agentId) {
      const row = q.getAgent.get(agentId) as AgentRow | undefined;
      return row ? agentRecord(row) : undefined;
    },
    listAgents() {
      return (q.listAgents.all() as AgentRow[]).map(agentRecord);
    },
    setRevokedSerials: (serials, at) => setRevokedSerials(serials, at),
    setDetectorSources: (agentId, sources) => void q.setSources.run(JSON.stringify(sources), agentId),
    setClockSkew: (agentId, skewMs) => void q.setSkew.run(Math.round(skewMs), agentId),
    upsertAlert: (agentId, alert, at) => upsertAlert(agentId, alert, at),
    getAlert(alertId) {
      const row = q.getAlert.get(alertId) as AlertRow | undefined;
      return row ? alertRecord(row) : undefined;
    },
    listOpenAlerts(limit) {
      return (q.listOpenAlerts.all(limit) as AlertRow[]).map(alertRecord);
    },
    listOpenAlertsOfKind(kind) {
      return (q.listOpenAlertsOfKind.all(kind) as AlertRow[]).map(alertRecord);
    },
    createAction: (input) => createAction(input),
    getAction(actionId) {
      const row = q.getAction.get(actionId) as ActionRow | undefined;
      return row ? actionRecord(row) : undefined;
    },
    listUnfinishedActions(agentId) {
      return (q.listUnfinished.all(agentId) as ActionRow[]).map(actionRecord);
    },
    listActionsForAlert(alertId) {
      return (q.listForAlert.all(alertId) as ActionRow[]).map(actionRecord);
    },
    markActionSent: (actionId, at) => markActionSent(actionId, at),
    recordResult: (agentId, result, at) => recordResult(agentId, result, at),
    audit(entry) {
      q.insertAudit.run(entry.at.getTime(), entry.actor, entry.event, entry.detail);
    },
    listAudit(limit) {
      return (q.listAudit.all(limit) as AuditRow[]).map((row) => ({ id: row.id, at: new Date(row.at), actor: row.actor, event: row.event, detail: row.detail }));
    },
    close() {
      if (db.open) db.close();
    },
  };
}
