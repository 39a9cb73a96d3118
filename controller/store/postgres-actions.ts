import { toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ActionOptionsSchema, ActionTargetSchema, OperatorSchema, type ActionResult } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord, NewAction } from "./store.js";
import type { PgOperations, PgQuery } from "./postgres-types.js";
import { actionRecord, auditRecord, STATE_OF_RESULT, type ActionRow, type AuditRow } from "./core-rows.js";

/** The actions table (what operators and the policy asked agents to do, and their results) and the audit log. */
export const pgActionOperations: PgOperations<
  "createAction" | "getAction" | "listUnfinishedActions" | "listActionsForAlert" | "markActionSent" | "recordResult" | "audit" | "listAudit"
> = {
  createAction: { atomic: true, run: (q, input) => createAction(q, input) },
  getAction: {
    atomic: false,
    async run(q, actionId) {
      const [row] = await q<ActionRow[]>`SELECT * FROM actions WHERE action_id = ${actionId}`;
      return row ? actionRecord(row) : undefined;
    },
  },
  listUnfinishedActions: {
    atomic: false,
    run: async (q, agentId) => (await q<ActionRow[]>`SELECT * FROM actions WHERE agent_id = ${agentId} AND state IN ('pending', 'sent') ORDER BY seq`).map(actionRecord),
  },
  listActionsForAlert: {
    atomic: false,
    run: async (q, alertId) => (await q<ActionRow[]>`SELECT * FROM actions WHERE alert_id = ${alertId} ORDER BY seq`).map(actionRecord),
  },
  markActionSent: {
    atomic: true,
    async run(q, actionId, at) {
      const [row] = await q<Array<{ alert_id: string | null }>>`
        UPDATE actions SET state = 'sent', sent_at = ${at.getTime()} WHERE action_id = ${actionId} AND state = 'pending' RETURNING alert_id`;
      if (row) await bumpAlert(q, row.alert_id);
    },
  },
  recordResult: { atomic: true, run: recordResult },
  audit: {
    atomic: false,
    async run(q, entry) {
      await q`INSERT INTO audit (at, actor, event, detail) VALUES (${entry.at.getTime()}, ${entry.actor}, ${entry.event}, ${entry.detail})`;
    },
  },
  listAudit: {
    atomic: false,
    run: async (q, limit) => (await q<AuditRow[]>`SELECT * FROM audit ORDER BY id DESC LIMIT ${limit}`).map(auditRecord),
  },
};

/** Every change to an alert's actions makes its views stale. */
async function bumpAlert(tx: PgQuery, alertId: string | null): Promise<void> {
  if (alertId) await tx`UPDATE alerts SET version = version + 1 WHERE alert_id = ${alertId}`;
}

/**
 * An alert takes one answer: the first action stored for it wins. Replicas
 * storing answers to one alert at once take turns on a transaction-level
 * advisory lock keyed by the alert, so the check and the insert are one step.
 */
async function createAction(tx: PgQuery, input: NewAction): Promise<{ created: true; action: ActionRecord } | { created: false; existing: ActionRecord }> {
  if (input.alertId) {
    await tx`SELECT pg_advisory_xact_lock(hashtext('secarc.answer'), hashtext(${input.alertId}))`;
    const [first] = await tx<ActionRow[]>`SELECT * FROM actions WHERE alert_id = ${input.alertId} ORDER BY seq LIMIT 1`;
    if (first) return { created: false, existing: actionRecord(first) };
  }
  const [row] = await tx<ActionRow[]>`
    INSERT INTO actions (action_id, agent_id, alert_id, answer, operator, requested_at, options, target, state, policy_after_ms)
    VALUES (${input.actionId}, ${input.agentId}, ${input.alertId ?? null}, ${input.answer}, ${toBinary(OperatorSchema, input.operator)},
      ${input.requestedAt.getTime()}, ${input.options ? toBinary(ActionOptionsSchema, input.options) : null},
      ${input.target ? toBinary(ActionTargetSchema, input.target) : null}, 'pending', ${input.policy ? input.policy.afterMs : null})
    RETURNING *`;
  await bumpAlert(tx, input.alertId ?? null);
  return { created: true, action: actionRecord(row!) };
}

/**
 * Stores an action's result once: the UPDATE matches only while the action
 * is pending or sent, and PostgreSQL's row lock makes a second writer (a
 * second replica) re-check that after the first commits, so the first
 * result wins there too. Times are the controller's (see the SQLite store).
 */
async function recordResult(tx: PgQuery, agentId: string, result: ActionResult, at: Date): Promise<boolean> {
  const agentFinishedAt = result.finishedAt ? timestampMs(result.finishedAt) : at.getTime();
  const finishedAt = at.getTime();
  const expiresAt = result.expiresAt ? finishedAt + Math.max(0, timestampMs(result.expiresAt) - agentFinishedAt) : null;
  const [row] = await tx<Array<{ alert_id: string | null }>>`
    UPDATE actions SET state = ${STATE_OF_RESULT[result.status] ?? "failed"}, result_status = ${result.status}, detail = ${result.detail},
      dry_run = ${result.dryRun ? 1 : 0}, finished_at = ${finishedAt}, expires_at = ${expiresAt},
      networks = ${JSON.stringify(result.networks)}
    WHERE action_id = ${result.actionId} AND agent_id = ${agentId} AND state IN ('pending', 'sent')
    RETURNING alert_id`;
  if (!row) return false;
  await bumpAlert(tx, row.alert_id);
  return true;
}
