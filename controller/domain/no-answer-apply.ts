import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { AlertRecord, Store } from "../store/store.js";
import type { ActionRequests } from "./action-requests.js";
import { POLICY_USERNAME, policyOperator, policyOptions, type NoAnswerRule, type SkipReason } from "./no-answer-decision.js";

/** Skip reasons remembered (so each is logged once per alert), oldest forgotten first. */
const MAX_REPORTED = 10_000;

export interface PolicyAnswersDeps {
  store: Pick<Store, "audit">;
  actions: ActionRequests;
  logger: Logger;
  now: () => number;
  blockDurationMs: number;
  powerDelayMs: number;
}

/**
 * What the no-answer policy does once a rule decided: answers the alert
 * through ActionRequests as the Operator "policy" (refused when someone
 * answered first), or says once per alert and reason why a rule was not
 * applied; both in the log and the audit.
 */
export function createPolicyAnswers(deps: PolicyAnswersDeps) {
  const { store, actions, logger, now } = deps;
  const reported = new Map<string, string>();

  async function apply(record: AlertRecord, rule: NoAnswerRule): Promise<void> {
    const context = { alertId: record.alertId, agentId: record.agentId, rule: rule.label };
    const outcome = await actions.request({
      agentId: record.agentId,
      alertId: record.alertId,
      answer: rule.answer,
      operator: policyOperator(rule),
      options: policyOptions(rule, { blockDurationMs: deps.blockDurationMs, powerDelayMs: deps.powerDelayMs }),
      policy: { afterMs: rule.afterMs },
    });
    if (outcome.ok) {
      logger.info({ ...context, actionId: outcome.action.actionId, delivered: outcome.delivered }, "no-answer policy: answer applied");
      await audit("policy.answer", `${Answer[rule.answer]} for alert ${record.alertId} on ${record.agentId} (${rule.label}): action ${outcome.action.actionId}`);
    } else if (outcome.reason === "already_answered") {
      logger.info(context, "no-answer policy: answered by someone else first; nothing done");
    } else {
      logger.warn({ ...context, reason: outcome.reason, detail: outcome.detail }, "no-answer policy: answer not applied");
      await audit("policy.refused", `${Answer[rule.answer]} for alert ${record.alertId} on ${record.agentId} (${rule.label}): ${outcome.detail}`);
    }
  }

  async function report(record: AlertRecord, rule: NoAnswerRule, why: SkipReason, detail: string): Promise<void> {
    const key = `${record.alert.severity}/${why}`;
    if (reported.get(record.alertId) === key) return;
    reported.delete(record.alertId);
    reported.set(record.alertId, key);
    if (reported.size > MAX_REPORTED) reported.delete(reported.keys().next().value as string);
    logger.warn({ alertId: record.alertId, agentId: record.agentId, rule: rule.label, why, detail }, "no-answer policy: rule not applied");
    await audit("policy.skipped", `alert ${record.alertId} on ${record.agentId} (${rule.label}): ${detail}`);
  }

  async function audit(event: string, detail: string): Promise<void> {
    try {
      await store.audit({ at: new Date(now()), actor: POLICY_USERNAME, event, detail });
    } catch (err) {
      logger.error({ err: describeError(err) }, "no-answer policy: audit entry not written");
    }
  }

  return {
    apply,
    report,
    /** The alert is decided for good: its reported reasons are forgotten. */
    forget: (alertId: string) => void reported.delete(alertId),
  };
}
