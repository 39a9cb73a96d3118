import { createHash } from "node:crypto";
import type { FleetBlocks } from "../domain/fleet-blocks.js";
import { chatTranslations } from "./alert-renderer.js";
import type { TelegramConfig } from "./config.js";
import { fleetSummaryText } from "./fleet-summary.js";
import type { QueueJob, TelegramStore } from "../store/telegram-store.js";
import type { BotApi, SendCall } from "./send-call.js";

/**
 * The queue key of a fleet block's summary in a chat. It rides the alert
 * jobs' key (chat, alert id), so that the queue's edit path keeps it: one
 * job per chat and fleet block however many results arrive (coalesced),
 * rendered from the current state when sent (the edits never go back in
 * time), one job at a time per chat.
 */
export const FLEET_JOB_PREFIX = "fleet:";

export function fleetJobKey(fleetId: string): string {
  return `${FLEET_JOB_PREFIX}${fleetId}`;
}

export interface FleetJobDeps {
  api: BotApi;
  messages: TelegramStore;
  fleet: FleetBlocks;
  config: TelegramConfig;
  /** The forum topic of the alert the fleet block answers, in a chat (telegram.routes' `thread`): the summary goes there too. Default: none. */
  threadOf?: (chatId: number, alertId: string) => number | undefined;
}

/** Carries out a summary job; false when the job is not one (an alert whose id merely looks like a key). */
export type RunFleetJob = (job: QueueJob, call: SendCall) => Promise<boolean>;

/**
 * The summary message of a block on all servers: sent once per chat that
 * follows it, then edited as its servers' results come in (and when it is
 * lifted), always from the fleet block's current state; an unchanged text
 * is not sent again, a deleted message is sent anew.
 */
export function createFleetJobRunner(deps: FleetJobDeps): RunFleetJob {
  const { api, messages } = deps;
  return async function runFleetJob(job, call) {
    if (!job.alertId?.startsWith(FLEET_JOB_PREFIX)) return false;
    const fleetId = job.alertId.slice(FLEET_JOB_PREFIX.length);
    const row = await messages.getFleetMessage(fleetId, job.chatId);
    if (!row) return false;
    const status = await deps.fleet.status(fleetId);
    if (!status) {
      await messages.drop(job.id);
      return true;
    }
    const text = fleetSummaryText(status, chatTranslations(deps.config, job.chatId));
    const hash = createHash("sha256").update(text).digest("base64url").slice(0, 22);
    const saved = (messageId: number | undefined) => () =>
      messages.transaction(async (tx) => {
        await tx.saveFleetSent(fleetId, job.chatId, messageId, hash);
        await tx.complete(job);
      });
    const messageId = row.messageId;
    if (messageId === undefined) {
      const threadId = row.alertId !== undefined ? deps.threadOf?.(job.chatId, row.alertId) : undefined;
      await call(job, () => api.sendMessage(job.chatId, text, [], threadId), (sent) => saved(sent.messageId)());
    } else if (row.renderedHash === hash) {
      await messages.complete(job);
    } else {
      // A deleted message: the next run sends the summary anew.
      await call(job, () => api.editMessage(job.chatId, messageId, text, []), saved(messageId), () => messages.saveFleetSent(fleetId, job.chatId, undefined, undefined));
    }
    return true;
  };
}
