import type { Logger } from "../../common/log.js";
import type { Store } from "../store/store.js";
import type { InlineKeyboard } from "./alert-message.js";
import type { AlertRenderer } from "./alert-renderer.js";
import { phaseKey } from "./alert-view.js";
import type { TelegramConfig } from "./config.js";
import { Priority, type QueueJob, type TelegramStore } from "../store/telegram-store.js";
import type { BotApi, SendCall } from "./send-call.js";
import type { SendDigest } from "./send-digest.js";

export interface SendJobDeps {
  api: BotApi;
  store: Store;
  messages: TelegramStore;
  renderer: AlertRenderer;
  config: TelegramConfig;
  logger: Logger;
  now: () => number;
  call: SendCall;
  sendDigest: SendDigest;
  /** A list message (/blocks, /allows) as it now should read (list-results.ts); undefined: nothing to show. */
  renderList?: (chatId: number, messageId: number) => Promise<{ text: string; keyboard: InlineKeyboard } | undefined>;
  /** The forum topic an alert goes to in a chat (telegram.routes' `thread`). Default: none. */
  threadOf?: (chatId: number, alertId: string) => number | undefined;
  /** Carries out a fleet block's summary job (fleet-summary-job.ts); false: the job is an alert's. Default: none. */
  runFleetJob?: (job: QueueJob, call: SendCall) => Promise<boolean>;
}

/**
 * Carries out one durable job: a prepared text is sent; an alert is sent,
 * edited where its message already shows it, left alone where the message
 * already shows this content, or grouped into a digest with the other new
 * alerts piled up for its chat.
 */
export type RunJob = (job: QueueJob) => Promise<void>;

export function createJobRunner(deps: SendJobDeps): RunJob {
  const { api, messages, renderer, now, call } = deps;
  const configured = new Set(deps.config.chats.map((chat) => chat.id));
  return async function runJob(job) {
    if (!configured.has(job.chatId)) {
      // Chats are a boundary: nothing goes to a chat that is not (or no longer) configured.
      await messages.drop(job.id);
      deps.logger.warn({ chatId: job.chatId }, "telegram: job for a chat that is not configured dropped");
      return;
    }
    if (job.payload?.listMessageId !== undefined) {
      const messageId = job.payload.listMessageId;
      const list = await deps.renderList?.(job.chatId, messageId);
      if (!list) await messages.drop(job.id);
      else await call(job, () => api.editMessage(job.chatId, messageId, list.text, list.keyboard), () => messages.complete(job));
      return;
    }
    if (job.payload) {
      await call(job, () => api.sendMessage(job.chatId, job.payload!.text, job.payload!.keyboard ?? [], job.payload!.threadId), () => messages.complete(job));
      return;
    }
    if (deps.runFleetJob && (await deps.runFleetJob(job, call))) return;
    const alertId = job.alertId!;
    const row = await messages.getMessage(alertId, job.chatId);
    if (row?.messageId === undefined && row?.digestMessageId !== undefined && job.priority !== Priority.interactive) {
      // Shown in a digest: reachable from it and from /alerts; nothing to edit.
      const record = await deps.store.getAlert(alertId);
      await messages.transaction(async (tx) => {
        if (record) await tx.saveRendered({ ...row, renderedVersion: record.version, renderedAt: now() });
        await tx.complete(job);
      });
      return;
    }
    if (row?.messageId === undefined && job.priority === Priority.fresh) {
      const fresh = await messages.listFresh(job.chatId, now(), 5_000);
      if (fresh.length > deps.config.digestThreshold) {
        await deps.sendDigest(job, fresh);
        return;
      }
    }
    // A first send whose earlier try got no answer (in flight at a stop, or given up unanswered) is a possible repeat.
    // Telegram has no idempotency key, so it is made again, saying so in this message and its later edits (docs/troubleshooting.md).
    const unsent = row?.messageId === undefined;
    const again = unsent && job.sendingSince !== undefined;
    // A message to send says so or not by this job; one already sent keeps what its row records.
    const rendered = await renderer.render(alertId, job.chatId, unsent ? { sentAgain: again } : undefined);
    if (!rendered) {
      await messages.drop(job.id);
      return;
    }
    const base = {
      alertId,
      chatId: job.chatId,
      renderedVersion: rendered.record.version,
      renderedPhase: phaseKey(rendered.view),
      renderedHash: rendered.hash,
      firstSeverity: row?.firstSeverity ?? rendered.record.alert.severity,
    };
    const messageId = row?.messageId;
    if (messageId !== undefined) {
      if (row?.renderedHash === rendered.hash) {
        await messages.transaction(async (tx) => {
          await tx.saveRendered({ ...base, messageId, renderedAt: now() });
          await tx.complete(job);
        });
        return;
      }
      await call(
        job,
        () => api.editMessage(job.chatId, messageId, rendered.message.text, rendered.message.keyboard),
        () =>
          messages.transaction(async (tx) => {
            await tx.saveRendered({ ...base, messageId, renderedAt: now() });
            await tx.complete(job);
          }),
        // The message is gone (deleted by someone): show the alert in a new one.
        () => messages.saveRendered({ ...base, messageId: undefined, renderedHash: undefined, renderedVersion: 0, renderedAt: now() }),
      );
      return;
    }
    // In flight from before the call until its answer is recorded: a start after kill -9, or the retry of a call
    // given up unanswered, finds the mark.
    if (again) deps.logger.warn({ chatId: job.chatId, alertId, inFlightSince: new Date(job.sendingSince!).toISOString() }, "telegram: an earlier send of this alert got no answer; sent again, marked as a possible repeat");
    // A conditional claim: of two controllers that read this job (a lease changing hands), one sends it.
    if (!(await messages.claimSend(job, now()))) {
      deps.logger.warn({ chatId: job.chatId, alertId }, "telegram: an alert's send was claimed by another controller; left to it");
      return;
    }
    await call(
      job,
      () => api.sendMessage(job.chatId, rendered.message.text, rendered.message.keyboard, deps.threadOf?.(job.chatId, alertId)),
      (sent) =>
        messages.transaction(async (tx) => {
          await tx.saveRendered({ ...base, messageId: sent.messageId, renderedAt: now(), sentAgain: again });
          if (!(await tx.complete(job))) await tx.markSending(job.id, undefined);
        }),
    );
  };
}
