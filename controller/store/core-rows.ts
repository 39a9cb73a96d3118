import { fromBinary } from "@bufbuild/protobuf";
import { decodeHostFacts } from "../host/host-facts.js";
import { ActionOptionsSchema, ActionTargetSchema, OperatorSchema, ResultStatus, type Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertSchema } from "../../gen/secarc/v1/alert_pb.js";
import { networksOf, type ActionRecord, type ActionState, type AgentRecord, type AgentState, type AlertRecord, type AuditRecord, type DetectorSourceRecord, type UnavailableAnswerRecord } from "./store.js";

/**
 * The rows of the core tables and their records, for both stores: SQLite's
 * (core-schema.ts, as better-sqlite3 returns them) and PostgreSQL's
 * (postgres-schema.ts, BIGINTs parsed to numbers) have the same columns and
 * the same values.
 */
export interface AgentRow {
  agent_id: string; version: string; hostname: string; addresses: string; actions: string; detectors: string;
  online: number; first_seen: number; last_seen: number; connects: number; cert_serial: string | null; revoked_at: number | null; detector_sources: string; unavailable_answers: string; clock_skew_ms: number | null; labels: string; fleet_block_opt_out: number; host_facts: string | null;
}
export interface AlertRow {
  alert_id: string; agent_id: string; revision: number; severity: number; body: Uint8Array; received_at: number; severity_since: number | null; updated_at: number; version: number;
}
export interface ActionRow {
  action_id: string; agent_id: string; alert_id: string | null; answer: number; operator: Uint8Array; requested_at: number;
  options: Uint8Array | null; target: Uint8Array | null; state: string; sent_at: number | null; result_status: number | null;
  detail: string; dry_run: number; finished_at: number | null; expires_at: number | null; policy_after_ms: number | null; networks: string;
}
export interface AuditRow { id: number; at: number; actor: string; event: string; detail: string }

/** The alert columns records are built from (no `kind`/`state`: they are inside `body`). */
export const ALERT_COLUMNS = "alert_id, agent_id, revision, severity, body, received_at, severity_since, updated_at, version";

/** The state an action takes with its result. */
export const STATE_OF_RESULT: Record<ResultStatus, ActionState> = {
  [ResultStatus.UNSPECIFIED]: "failed",
  [ResultStatus.DONE]: "done",
  [ResultStatus.FAILED]: "failed",
  [ResultStatus.REFUSED]: "refused",
};

/** The columns of an AgentState. */
export const AGENT_STATE_COLUMNS = "agent_id, online, last_seen, revoked_at, detector_sources";
export type AgentStateRow = Pick<AgentRow, "agent_id" | "online" | "last_seen" | "revoked_at" | "detector_sources">;

export const agentState = (row: AgentStateRow): AgentState => ({
  agentId: row.agent_id,
  online: row.online === 1,
  lastSeen: new Date(row.last_seen),
  revokedAt: row.revoked_at === null ? undefined : new Date(row.revoked_at),
  detectorSources: JSON.parse(row.detector_sources) as DetectorSourceRecord[],
});

export const agentRecord = (row: AgentRow): AgentRecord => ({
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

export const alertRecord = (row: AlertRow): AlertRecord => ({
  alertId: row.alert_id,
  agentId: row.agent_id,
  alert: fromBinary(AlertSchema, row.body),
  receivedAt: new Date(row.received_at),
  severitySince: new Date(row.severity_since ?? row.received_at),
  updatedAt: new Date(row.updated_at),
  version: row.version,
});

export const actionRecord = (row: ActionRow): ActionRecord => ({
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

export const auditRecord = (row: AuditRow): AuditRecord => ({ id: row.id, at: new Date(row.at), actor: row.actor, event: row.event, detail: row.detail });
