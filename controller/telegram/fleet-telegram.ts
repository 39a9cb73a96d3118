import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { EventBus } from "../domain/events.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { fleetActionId, type FleetBlocks } from "../domain/fleet-blocks.js";
import type { TelegramConfig } from "./config.js";
import { createFleetJobRunner, fleetJobKey, type RunFleetJob } from "./fleet-summary-job.js";
import { Priority, type QueueJob, type TelegramStore } from "../store/telegram-store.js";
import type { BotApi, SendCall } from "./send-call.js";

/** Blocks on all servers in Telegram: the summary messages that follow them. */
export interface FleetTelegram {
  blocks: FleetBlocks;
  /** A chat follows a new fleet block: its summary message is queued there. */
  follow(fleetId: string, chatId: number, alertId: string | undefined): Promise<void>;
  /** Queues the summary's edit in every chat that follows the fleet block. */
  changed(fleetId: string): Promise<void>;
  /** Whether a block on all servers answered this alert (its message names that answer). */
  answersAlert(alertId: string): Promise<boolean>;
  /** Carries out a summary job of the send queue; false for any other job. */
  runJob(api: BotApi, job: QueueJob, call: SendCall): Promise<boolean>;
  /** Stops following results; waits for the look-ups in flight. */
  stop(): Promise<void>;
}

export interface FleetTelegramDeps {
  fleet: FleetBlocks;
  messages: TelegramStore;
  config: TelegramConfig;
  events: EventBus;
  logger: Logger;
  now: () => number;
  /** Looks for due work in the send queue. */
  kick(): void;
  /** The forum topic an alert goes to in a chat (routes). Default: none. */
  threadOf?: (chatId: number, alertId: string) => number | undefined;
}

/**
 * Follows every fleet block that has a summary message: a result of one of
 * its actions (BLOCK_IP or UNBLOCK_IP) and an agent coming or going (sent ↔
 * queued) queue the summary's edit; the queue renders it from the current
 * state when it sends, so edits are coalesced and never show an older count.
 */
export function createFleetTelegram(deps: FleetTelegramDeps): FleetTelegram {
  const { fleet, messages, now, kick } = deps;
  let run: RunFleetJob | undefined;
  let lookups = Promise.resolve();
  let stopped = false;

  function queue(fleetId: string, chatId: number, priority: number): Promise<void> {
    return messages.enqueueAlert(chatId, fleetJobKey(fleetId), priority, now());
  }
  async function changed(fleetId: string): Promise<void> {
    const chats = await messages.fleetChats(fleetId);
    for (const chatId of chats) await queue(fleetId, chatId, Priority.update);
    if (chats.length > 0) kick();
  }
  function later(work: () => Promise<void>): void {
    lookups = lookups.then(work).catch((err: unknown) => deps.logger.error({ err: describeError(err) }, "telegram: could not queue a fleet block's summary"));
  }

  const unsubscribe = deps.events.subscribe((event) => {
    if (stopped) return;
    if (event.type === "action") {
      later(async () => {
        // A part's action is announced before its member row names it (a joiner's): its id, derived from fleet block and server, tells.
        const fleetId =
          (await fleet.fleetOfAction(event.actionId)) ?? (await fleet.listActive()).find((b) => fleetActionId(b.fleetId, event.agentId, Answer.BLOCK_IP) === event.actionId)?.fleetId;
        if (fleetId !== undefined) await changed(fleetId);
      });
    } else if (event.type === "agent") {
      later(async () => {
        for (const block of await fleet.listActive()) await changed(block.fleetId);
      });
    }
  });

  return {
    blocks: fleet,
    async follow(fleetId, chatId, alertId) {
      await messages.followFleet({ fleetId, chatId, alertId });
      await queue(fleetId, chatId, Priority.interactive);
      kick();
    },
    changed,
    answersAlert: (alertId) => messages.fleetAnswersAlert(alertId),
    runJob(api, job, call) {
      // The bridge has one Bot API client.
      run ??= createFleetJobRunner({ api, messages, fleet, config: deps.config, ...(deps.threadOf ? { threadOf: deps.threadOf } : {}) });
      return run(job, call);
    },
    async stop() {
      stopped = true;
      unsubscribe();
      await lookups;
    },
  };
}
