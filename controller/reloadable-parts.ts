import type { AgentLabels } from "./domain/agent-labels.js";
import { SecarcError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import type { ControllerConfig } from "./config.js";
import type { ActionRequests } from "./domain/action-requests.js";
import type { EventBus } from "./domain/events.js";
import { DEFAULT_ANSWER_WINDOW_MS } from "./domain/no-answer-policy-config.js";
import { startNoAnswerPolicy, type NoAnswerPolicy, type PolicyTimers } from "./domain/no-answer-policy.js";
import type { ControllerMetrics } from "./metrics/metrics.js";
import type { Store } from "./store/store.js";
import type { FleetBlocks } from "./domain/fleet-blocks.js";
import { startTelegramBridge, type TelegramBridge } from "./telegram/bridge.js";
import type { BridgeVoice } from "./telegram/bridge-voice.js";
import { resolveBotToken, type TelegramConfig } from "./telegram/config.js";
import type { SilenceWatch } from "./domain/silence-watch.js";
import type { SilenceHold } from "./telegram/silence-digest.js";
import type { TelegramVoice } from "./replicas/replica-coordination.js";
import { createVoiceSwitch, type VoiceSwitch } from "./replicas/voice-switch.js";

/** What a reload did. */
export interface ReloadOutcome {
  /** Parts started again with the new config, e.g. ["telegram", "policy"]. */
  applied: string[];
  /** Top-level keys that changed but take effect only after a restart. */
  needRestart: string[];
}

/** Keys read once at start: a change is logged and waits for a restart. */
const RESTART_KEYS = ["listen", "tls", "store", "link", "log", "metrics", "admin", "silences", "replicas"] as const;

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
  /** On PostgreSQL: the replicas' Telegram lease. The bridge runs only while this replica holds it. Default: always (one controller). */
  voice?: TelegramVoice;
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
  // On PostgreSQL: starts the bridge when this replica takes the Telegram lease and stops it when it loses it.
  let voiced: { switch: VoiceSwitch<TelegramBridge>; unfollow: () => void } | undefined;
  let bridgeToken: string | undefined;
  let policy: NoAnswerPolicy | undefined;

  async function startBridge(): Promise<void> {
    if (!config.telegram || !deps.startTelegram) return;
    bridgeToken = resolveBotToken(config.telegram);
    if (deps.voice) return speakWhileHeld(deps.voice);
    bridge = await launchBridge(config.telegram);
  }

  function launchBridge(telegram: TelegramConfig, voice?: BridgeVoice): Promise<TelegramBridge> {
    return startTelegramBridge({
      config: telegram,
      store: deps.store,
      events: deps.events,
      actions: deps.actions,
      logger: logger.child({ component: "telegram" }),
      now: deps.now,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.silences ? { silences: deps.silences } : {}),
      ...(deps.fleet ? { fleet: deps.fleet } : {}),
      ...(deps.labels ? { labels: deps.labels } : {}),
      ...(voice ? { voice } : {}),
    });
  }

  /** One voice among the replicas: the bridge follows the lease; the others' bridges stay stopped. */
  function speakWhileHeld(voice: TelegramVoice): void {
    const bridgeSwitch = createVoiceSwitch<TelegramBridge>({
      logger,
      name: "Telegram bridge",
      // The config in force when the bridge starts: a reload restarts it in place (restartBridge).
      start: (epoch) => {
        const telegram = config.telegram;
        if (!telegram) throw new SecarcError("internal", "the Telegram bridge was started without a telegram section");
        return launchBridge(telegram, {
          epoch,
          speaking: () => voice.speaking(),
          handleUpdate: (updateId, handle) => voice.handleUpdate(updateId, handle),
          ...(telegram.webhook ? { consumeInbox: (handle) => voice.consumeInbox(handle) } : {}),
        });
      },
      stop: (running) => running.stop(),
    });
    const unfollow = voice.follow((epoch) => (epoch === undefined ? bridgeSwitch.lost() : bridgeSwitch.acquired(epoch)));
    // Alerts stored on other replicas while this one missed their events are queued again.
    const unfollowResync = voice.followResync(() => bridgeSwitch.current()?.resume());
    voiced = { switch: bridgeSwitch, unfollow: () => (unfollow(), unfollowResync()) };
    const epoch = voice.speaking();
    if (epoch !== undefined) bridgeSwitch.acquired(epoch);
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

  /**
   * Starts the bridge again with the config now in force. On replicas the
   * lease did not move: the voice's bridge starts again in place (the
   * others stay silent and start with this config when the lease comes to
   * them); it stops for good only when the section is gone.
   */
  async function restartBridge(): Promise<void> {
    if (voiced && config.telegram && deps.startTelegram) {
      bridgeToken = resolveBotToken(config.telegram);
      await voiced.switch.restart();
      return;
    }
    await stopBridge();
    await startBridge();
  }

  async function stopBridge(): Promise<void> {
    const running = bridge;
    bridge = undefined;
    await running?.stop();
    const wasVoiced = voiced;
    voiced = undefined;
    wasVoiced?.unfollow();
    await wasVoiced?.switch.close();
  }
  const current = () => bridge ?? voiced?.switch.current();

  return {
    startBridge,
    startPolicy,
    bridge: current,
    /** Resolves when the bridge has followed every change of the Telegram lease so far (tests). */
    settled: () => voiced?.switch.settled() ?? Promise.resolve(),
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
      const running = current();
      const unhealthy = running !== undefined && running.connection().state !== "ok";
      const notStarted = next.telegram && !bridge && !voiced && deps.startTelegram;
      // On a replica holding the Telegram lease whose bridge could not start: a reload is "try now" too.
      const voiceSilent = voiced !== undefined && deps.voice?.speaking() !== undefined && voiced.switch.current() === undefined;
      if (!same(previous.telegram, next.telegram) || tokenChanged || unhealthy || notStarted || voiceSilent) {
        await restartBridge();
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
