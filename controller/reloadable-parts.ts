import type { AgentLabels } from "./domain/agent-labels.js";
import type { Logger } from "../common/log.js";
import type { ControllerConfig } from "./config.js";
import type { ActionRequests } from "./domain/action-requests.js";
import type { EventBus } from "./domain/events.js";
import { DEFAULT_ANSWER_WINDOW_MS } from "./domain/no-answer-policy-config.js";
import { startNoAnswerPolicy, type NoAnswerPolicy, type PolicyTimers } from "./domain/no-answer-policy.js";
import type { ControllerMetrics } from "./metrics/metrics.js";
import type { Store } from "./store/store.js";
import { SecarcError } from "../common/errors.js";
import type { FleetBlocks } from "./domain/fleet-blocks.js";
import { startTelegramBridge, type TelegramBridge } from "./telegram/bridge.js";
import { resolveBotToken } from "./telegram/config.js";
import type { SilenceWatch } from "./domain/silence-watch.js";
import type { SilenceHold } from "./telegram/silence-digest.js";

/** What a reload did. */
export interface ReloadOutcome {
  /** Parts started again with the new config, e.g. ["telegram", "policy"]. */
  applied: string[];
  /** Top-level keys that changed but take effect only after a restart. */
  needRestart: string[];
}

/** Keys read once at start: a change is logged and waits for a restart. */
const RESTART_KEYS = ["listen", "tls", "store", "link", "log", "metrics", "admin", "silences"] as const;

export interface ReloadablePartsDeps {
  store: Store;
  events: EventBus;
  actions: ActionRequests;
  logger: Logger;
  now: () => number;
  metrics: ControllerMetrics | undefined;
  /** Whether the bridge runs at all (tests switch it off). */
  startTelegram: boolean;
  policyTimers?: PolicyTimers;
  /** Silences: the bridge holds their alerts, the policy waits for their end. Default: none. */
  silences?: { watch: SilenceWatch; hold: SilenceHold };
  /** Blocks on all servers, offered in Telegram. Default: not offered. */
  fleet?: FleetBlocks;
  /** Agents' labels (telegram.routes). Default: the bridge keeps its own. */
  labels?: Pick<AgentLabels, "labelsOf">;
}

/**
 * The parts of the controller a reload (SIGHUP) starts again with a new
 * config while agent streams stay up: the Telegram bridge (chats, allowed
 * users, token, texts, timings; its queue is in the store, so nothing
 * waiting is lost) and the no-answer policy (rules). Everything else is
 * read once at start.
 */
export function createReloadableParts(deps: ReloadablePartsDeps, initial: ControllerConfig) {
  const { logger } = deps;
  let config = initial;
  let bridge: TelegramBridge | undefined;
  let bridgeToken: string | undefined;
  let policy: NoAnswerPolicy | undefined;

  async function startBridge(): Promise<void> {
    if (!config.telegram || !deps.startTelegram) return;
    bridgeToken = resolveBotToken(config.telegram);
    // The bridge runs on any Store; on PostgreSQL it waits for the replicas' Telegram lease (one voice), not wired to it yet.
    if (config.store.postgres) throw new SecarcError("config_invalid", "telegram: the Telegram bridge does not run on store.postgres in this version (the replicas' Telegram lease is not wired to it yet); with store.postgres leave telegram out");
    bridge = await startTelegramBridge({
      config: config.telegram,
      store: deps.store,
      events: deps.events,
      actions: deps.actions,
      logger: logger.child({ component: "telegram" }),
      now: deps.now,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.silences ? { silences: deps.silences } : {}),
      ...(deps.fleet ? { fleet: deps.fleet } : {}),
      ...(deps.labels ? { labels: deps.labels } : {}),
    });
  }

  // A silence that ends (early, by Unsilence, too) moves the time of the alerts it held.
  deps.silences?.watch.onEnded(() => policy?.reconsider());

  function startPolicy(): void {
    policy = startNoAnswerPolicy({
      rules: config.policy.rules,
      store: deps.store,
      events: deps.events,
      actions: deps.actions,
      logger: logger.child({ component: "policy" }),
      answerWindowMs: config.telegram?.answerWindow ?? DEFAULT_ANSWER_WINDOW_MS,
      blockDurationMs: config.telegram?.defaultBlockDuration ?? 86_400_000,
      powerDelayMs: config.telegram?.powerDelay ?? 5_000,
      now: deps.now,
      ...(deps.policyTimers ? { timers: deps.policyTimers } : {}),
      ...(deps.silences ? { heldUntil: deps.silences.hold.heldUntil } : {}),
    });
  }

  async function stopBridge(): Promise<void> {
    const running = bridge;
    bridge = undefined;
    await running?.stop();
  }

  return {
    startBridge,
    startPolicy,
    bridge: () => bridge,
    /**
     * Puts an already validated config in force: the bridge starts again when
     * its section or the token changed, or while it cannot reach Telegram (a
     * reload is also "try now"); the policy when its rules or timings changed.
     */
    async reload(next: ControllerConfig): Promise<ReloadOutcome> {
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      const needRestart = RESTART_KEYS.filter((key) => !same((config as Record<string, unknown>)[key], (next as Record<string, unknown>)[key]));
      const previous = config;
      // What cannot change now keeps its running value.
      config = { ...next, ...Object.fromEntries(RESTART_KEYS.map((key) => [key, (previous as Record<string, unknown>)[key]])) } as ControllerConfig;
      const applied: string[] = [];
      const tokenChanged = next.telegram !== undefined && resolveBotToken(next.telegram) !== bridgeToken;
      const unhealthy = bridge !== undefined && bridge.connection().state !== "ok";
      if (!same(previous.telegram, next.telegram) || tokenChanged || unhealthy || (next.telegram && !bridge && deps.startTelegram)) {
        await stopBridge();
        await startBridge();
        applied.push("telegram");
      }
      const timings = (c: ControllerConfig) => [c.policy, c.telegram?.answerWindow, c.telegram?.defaultBlockDuration, c.telegram?.powerDelay];
      if (!same(timings(previous), timings(next))) {
        policy?.stop();
        startPolicy();
        applied.push("policy");
      }
      if (needRestart.length > 0) logger.warn({ keys: needRestart }, `config reloaded; ${needRestart.join(", ")} changed and take effect after a restart`);
      logger.info({ applied, needRestart }, applied.length > 0 ? `config reloaded: ${applied.join(", ")} started again` : "config reloaded: nothing to change");
      return { applied, needRestart };
    },
    stopBridge,
    stopPolicy(): void {
      policy?.stop();
      policy = undefined;
    },
  };
}

export type ReloadableParts = ReturnType<typeof createReloadableParts>;
