import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ActionRecord, AlertRecord, Store } from "../store/store.js";
import type { ActionRequests } from "./action-requests.js";
import { alertLifecycle } from "./alert-lifecycle.js";
import type { EventBus } from "./events.js";
import { createPolicyAnswers } from "./no-answer-apply.js";
import { decideNoAnswer, ruleKey, ruleTable, type NoAnswerRule } from "./no-answer-decision.js";

export {
  POLICY_USERNAME,
  decideNoAnswer,
  isPolicyOperator,
  policyOperator,
  policyOptions,
  ruleTable,
  type NoAnswerDecision,
  type NoAnswerInput,
  type NoAnswerRule,
  type RuleTable,
  type SkipReason,
} from "./no-answer-decision.js";

/** A one-shot timer, injectable so that tests drive time. */
export interface PolicyTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: PolicyTimers = {
  set(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface NoAnswerPolicyDeps {
  rules: readonly NoAnswerRule[];
  store: Store;
  events: EventBus;
  /** The same path a Telegram tap takes: stored first, then sent, refused if already answered. */
  actions: ActionRequests;
  logger: Logger;
  /** How long an unanswered alert offers its answers (telegram.answerWindow), in ms. */
  answerWindowMs: number;
  /** BLOCK_IP's duration when the rule sets none (telegram.defaultBlockDuration), in ms. */
  blockDurationMs: number;
  /** REBOOT / SHUTDOWN's delay (telegram.powerDelay), in ms. */
  powerDelayMs: number;
  /** The clock. Default: Date.now. */
  now?: () => number;
  /** Default: setTimeout, unref'd. */
  timers?: PolicyTimers;
  /** Open alerts looked at on start, newest first. Default: 10,000. */
  scanLimit?: number;
  /** Until when silences hold an alert (silence-watch.ts). Default: no silences. */
  heldUntil?: (record: AlertRecord, now: number) => number | undefined;
}

export interface NoAnswerPolicy {
  /** Alerts waiting for their rule's time: alert id → due time (ms). */
  waiting(): ReadonlyMap<string, number>;
  /** Decides again for every alert whose time has come (the timer calls it); resolves when decided. */
  runDue(): Promise<void>;
  /** Decides again for every waiting alert now (a silence ended early: their times move). */
  reconsider(): void;
  /** Resolves once every decision started so far (start-up scan, events, timer, reconsider) is done. */
  settled(): Promise<void>;
  stop(): void;
}

/** The longest single timer; a later due time is reached by re-arming. */
const MAX_TIMER_MS = 3_600_000;

/**
 * Starts the no-answer policy: for every open, unanswered alert that a rule
 * names, it waits until the rule's time and then answers it through
 * ActionRequests, as the Operator "policy". Decisions are made from the
 * store (the alert, its actions, its agent) each time, so a restart needs no
 * state of its own: an alert answered before the restart has its action
 * stored and is left alone; one whose time came while the controller was
 * down is answered on start, if it has not expired. One timer serves all
 * waiting alerts (the earliest due time).
 */
export function startNoAnswerPolicy(deps: NoAnswerPolicyDeps): NoAnswerPolicy {
  const { store, logger } = deps;
  const now = deps.now ?? Date.now;
  const timers = deps.timers ?? realTimers;
  const rules = ruleTable(deps.rules);
  const due = new Map<string, number>();
  const answers = createPolicyAnswers({ ...deps, now });
  let timer: unknown;
  let armedFor = Number.POSITIVE_INFINITY;
  let stopped = false;
  /** Decisions run one after another, as they did on the synchronous store. */
  let deciding: Promise<void> = Promise.resolve();
  const inTurn = (decide: () => Promise<void>): Promise<void> => (deciding = deciding.then(decide));

  if (rules.size === 0) return { waiting: () => due, runDue: async () => {}, reconsider() {}, settled: async () => {}, stop() {} };

  async function evaluate(alertId: string): Promise<void> {
    const record = await store.getAlert(alertId);
    if (!record || !rules.has(ruleKey(record.alert.kind, record.alert.severity))) {
      forget(alertId);
      return;
    }
    const agent = await store.getAgent(record.agentId);
    const decision = decideNoAnswer(rules, {
      record,
      answered: isAnswered(record, await store.listActionsForAlert(alertId), now(), deps.answerWindowMs),
      agentActions: agent?.actions,
      now: now(),
      answerWindowMs: deps.answerWindowMs,
      heldUntil: deps.heldUntil?.(record, now()),
    });
    switch (decision.type) {
      case "none":
        forget(alertId);
        break;
      case "wait":
        due.set(alertId, decision.dueAt);
        if (decision.dueAt < armedFor) arm();
        break;
      case "skip":
        due.delete(alertId);
        await answers.report(record, decision.rule, decision.why, decision.detail);
        break;
      case "apply":
        forget(alertId);
        await answers.apply(record, decision.rule);
        break;
    }
  }

  function forget(alertId: string): void {
    due.delete(alertId);
    answers.forget(alertId);
  }

  function arm(): void {
    if (timer !== undefined) timers.clear(timer);
    timer = undefined;
    armedFor = Number.POSITIVE_INFINITY;
    if (stopped || due.size === 0) return;
    let next = Number.POSITIVE_INFINITY;
    for (const at of due.values()) next = Math.min(next, at);
    armedFor = next;
    timer = timers.set(onTimer, Math.min(MAX_TIMER_MS, Math.max(0, next - now())));
  }

  function onTimer(): void {
    timer = undefined;
    armedFor = Number.POSITIVE_INFINITY;
    void runDue();
  }

  function runDue(): Promise<void> {
    return inTurn(async () => {
      if (stopped) return;
      const at = now();
      const ready = [...due].filter(([, dueAt]) => dueAt <= at).map(([alertId]) => alertId);
      for (const alertId of ready) {
        try {
          await evaluate(alertId);
        } catch (err) {
          // Decided again at the next start; an alert never stays half-answered (the action is one insert).
          due.delete(alertId);
          logger.error({ err: describeError(err), alertId }, "no-answer policy: decision failed");
        }
      }
      arm();
    });
  }

  async function safely(alertId: string): Promise<void> {
    if (stopped) return;
    try {
      await evaluate(alertId);
    } catch (err) {
      logger.error({ err: describeError(err), alertId }, "no-answer policy: decision failed");
    }
  }

  const unsubscribe = deps.events.subscribe((event) => {
    if (event.type === "alert") void inTurn(() => safely(event.alertId));
    else if (event.type === "action" && event.alertId !== undefined && due.has(event.alertId)) forget(event.alertId);
  });

  // Alerts stored before this start (by a previous run, or while it was down).
  // Expired ones are left alone quietly: they offer no answers any more.
  const startedAt = now();
  void inTurn(async () => {
    try {
      for (const record of await store.listOpenAlerts(deps.scanLimit ?? 10_000)) {
        if (!rules.has(ruleKey(record.alert.kind, record.alert.severity))) continue;
        if (alertLifecycle(record, [], startedAt, { answerWindowMs: deps.answerWindowMs, agentOnline: false }).phase.type === "expired") continue;
        await safely(record.alertId);
      }
    } catch (err) {
      logger.error({ err: describeError(err) }, "no-answer policy: the start-up scan failed");
    }
    logger.info({ rules: rules.size, waiting: due.size }, "no-answer policy started");
  });

  return {
    waiting: () => due,
    runDue,
    reconsider() {
      void inTurn(async () => {
        if (stopped) return;
        for (const alertId of [...due.keys()]) await safely(alertId);
        arm();
      });
    },
    settled: () => deciding,
    stop() {
      stopped = true;
      unsubscribe();
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
      due.clear();
    },
  };
}

/** Whether the alert's lifecycle has an answer (a human's or the policy's), resolved or not. */
function isAnswered(record: AlertRecord, actions: readonly ActionRecord[], now: number, answerWindowMs: number): boolean {
  const { phase } = alertLifecycle(record, actions, now, { answerWindowMs, agentOnline: false });
  return phase.type === "answered" || (phase.type === "resolved" && phase.outcome !== undefined);
}

