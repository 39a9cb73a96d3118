import { toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ActionOptionsSchema, ActionTargetSchema, OperatorSchema, type ActionResult } from "../../gen/secarc/v1/action_pb.js";
import type { NewAction, Store } from "./store.js";
import type { AsyncMethods, PgQuery, PgSql } from "./postgres-types.js";
import { actionRecord, auditRecord, STATE_OF_RESULT, type ActionRow, type AuditRow } from "./postgres-rows.js";

type ActionMethods = AsyncMethods<
  Pick<Store, "createAction" | "getAction" | "listUnfinishedActions" | "listActionsForAlert" | "markActionSent" | "recordResult" | "audit" | "listAudit">
>;

/** The actions table (what operators and the policy asked agents to do, and their results) and the audit log. */
export function createPgActionMethods(sql: PgSql): ActionMethods {
  return {
    createAction: (input) => sql.begin((tx) => createAction(tx, input)),
    async getAction(actionId) {
      const [row] = await sql<ActionRow[]>`SELECT * FROM actions WHERE action_id = ${actionId}`;
      return row ? actionRecord(row) : undefined;
    },
    async listUnfinishedActions(agentId) {
      return (await sql<ActionRow[]>`SELECT * FROM actions WHERE agent_id = ${agentId} AND state IN ('pending', 'sent') ORDER BY seq`).map(actionRecord);
    },
    async listActionsForAlert(alertId) {
      return (await sql<ActionRow[]>`SELECT * FROM actions WHERE alert_id = ${alertId} ORDER BY seq`).map(actionRecord);
    },
    markActionSent: (actionId, at) =>
      sql.begin(async (tx) => {
        const [row] = await tx<Array<{ alert_id: string | null }>>`
          UPDATE actions SET state = 'sent', sent_at = ${at.getTime()} WHERE action_id = ${actionId} AND state = 'pending' RETURNING alert_id`;
        if (row) await bumpAlert(tx, row.alert_id);
      }),
    recordResult: (agentId, result, at) => sql.begin((tx) => recordResult(tx, agentId, result, at)),
    async audit(entry) {
      await sql`INSERT INTO audit (at, actor, event, detail) VALUES (${entry.at.getTime()}, ${entry.actor}, ${entry.event}, ${entry.detail})`;
    },
    async listAudit(limit) {
      return (await sql<AuditRow[]>`SELECT * FROM audit ORDER BY id DESC LIMIT ${limit}`).map(auditRecord);
    },
  };
}

/** Every change to an alert's actions makes its views stale. */
async function bumpAlert(tx: PgQuery, alertId: string | null): Promise<void> {
  if (alertId) await tx`UPDATE alerts SET version = version + 1 WHERE alert_id = ${alertId}`;
}

async function createAction(tx: PgQuery, input: NewAction) {
  const [row] = await tx<ActionRow[]>`
    INSERT INTO actions (action_id, agent_id, alert_id, answer, operator, requested_at, options, target, state, policy_after_ms)
    VALUES (${input.actionId}, ${input.agentId}, ${input.alertId ?? null}, ${input.answer}, ${toBinary(OperatorSchema, input.operator)},
      ${input.requestedAt.getTime()}, ${input.options ? toBinary(ActionOptionsSchema, input.options) : null},
      ${input.target ? toBinary(ActionTargetSchema, input.target) : null}, 'pending', ${input.policy ? input.policy.afterMs : null})
    RETURNING *`;
  await bumpAlert(tx, input.alertId ?? null);
  return actionRecord(row!);
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
      dry_run = ${result.dryRun ? 1 : 0}, finished_at = ${finishedAt}, expires_at = ${expiresAt}
    WHERE action_id = ${result.actionId} AND agent_id = ${agentId} AND state IN ('pending', 'sent')
    RETURNING alert_id`;
  if (!row) return false;
  await bumpAlert(tx, row.alert_id);
  return true;
}
