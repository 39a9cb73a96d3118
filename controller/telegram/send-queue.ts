import type { Logger } from "../../common/log.js";
import type { Store } from "../store/store.js";
import { kindName } from "./alert-message.js";
import type { InlineKeyboard } from "./alert-message.js";
import type { AlertRenderer } from "./alert-renderer.js";
import { chatTranslations } from "./alert-renderer.js";
import { phaseKey } from "./alert-view.js";
import type { TelegramConfig } from "./config.js";
import { Priority, type MessageStore, type QueueJob } from "./message-store.js";
import type { SendPace } from "./send-pace.js";
import { backoffMs, classifySendError, toSecarcError } from "./telegram-errors.js";
import { escapeHtml, splitMessage } from "./text-format.js";

/** The two Bot API calls the queue makes. */
export interface BotApi {
  sendMessage(chatId: number, text: string, keyboard: InlineKeyboard): Promise<{ messageId: number }>;
  editMessage(chatId: number, messageId: number, text: string, keyboard: InlineKeyboard): Promise<void>;
}

export interface SendQueue {
  /** Looks for due work now (call after enqueueing). */
  kick(): void;
  /** Waits for the job in flight, then stops. */
  stop(): Promise<void>;
  depth(): number;
}

export interface SendQueueDeps {
  api: BotApi;
  store: Store;
  messages: MessageStore;
  renderer: AlertRenderer;
  pace: SendPace;
  config: TelegramConfig;
  logger: Logger;
  now: () => number;
  /** Called after each 429 answer (for metrics). */
  onRateLimited?: () => void;
  /** Called with the queue depth whenever the queue goes idle or waits (for metrics). */
  onDepth?: (depth: number) => void;
}

const SCAN = 500;

/**
 * The durable send queue: jobs live in SQLite, so a restart loses none. One
 * job at a time, most urgent first, each chat at Telegram's pace; this is the
 * one place that retries (429 → wait retry_after; network/5xx → backoff).
 * New-alert messages that pile up for a chat become one digest message.
 */
export function createSendQueue(deps: SendQueueDeps): SendQueue {
  const { api, messages, renderer, pace, logger, now } = deps;
  let running = false;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let inFlight: Promise<void> = Promise.resolve();

  function schedule(at: number): void {
    if (stopped || at >= timerAt) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      kick();
    }, Math.max(0, at - now()));
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    inFlight = pump().finally(() => {
      running = false;
      if (again && !stopped) {
        again = false;
        kick();
      }
    });
  }

  async function pump(): Promise<void> {
    while (!stopped) {
      again = false;
      const at = now();
      const jobs = messages.listDue(at, SCAN);
      let next: QueueJob | undefined;
      let wakeAt = messages.nextNotBefore() ?? Infinity;
      if (wakeAt <= at) wakeAt = Infinity;
      for (const job of jobs) {
        const allowed = pace.nextAllowed(job.chatId, at);
        if (allowed <= at) {
          next = job;
          break;
        }
        wakeAt = Math.min(wakeAt, allowed);
      }
      if (!next) {
        deps.onDepth?.(messages.depth());
        if (wakeAt < Infinity) schedule(wakeAt);
        return;
      }
      try {
        await runJob(next);
      } catch (err) {
        logger.error({ err: toSecarcError(err, "telegram job failed"), chatId: next.chatId }, "telegram job failed unexpectedly; dropped");
        messages.drop(next.id);
      }
    }
  }

  async function runJob(job: QueueJob): Promise<void> {
    if (job.payload) {
      await call(job, () => api.sendMessage(job.chatId, job.payload!.text, job.payload!.keyboard ?? []), () => {
        messages.complete(job);
      });
      return;
    }
    const alertId = job.alertId!;
    const row = messages.getMessage(alertId, job.chatId);
    if (row?.messageId === undefined && row?.digestMessageId !== undefined && job.priority !== Priority.interactive) {
      // Shown in a digest: reachable from it and from /alerts; nothing to edit.
      const record = deps.store.getAlert(alertId);
      messages.transaction(() => {
        if (record) messages.saveRendered({ ...row, renderedVersion: record.version, renderedAt: now() });
        messages.complete(job);
      });
      return;
    }
    if (row?.messageId === undefined && job.priority === Priority.fresh) {
      const fresh = messages.listFresh(job.chatId, now(), 5_000);
      if (fresh.length > deps.config.digestThreshold) {
        await sendDigest(job, fresh);
        return;
      }
    }
    const rendered = renderer.render(alertId, job.chatId);
    if (!rendered) {
      messages.drop(job.id);
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
        messages.transaction(() => {
          messages.saveRendered({ ...base, messageId, renderedAt: now() });
          messages.complete(job);
        });
        return;
      }
      await call(
        job,
        () => api.editMessage(job.chatId, messageId, rendered.message.text, rendered.message.keyboard),
        () =>
          messages.transaction(() => {
            messages.saveRendered({ ...base, messageId, renderedAt: now() });
            messages.complete(job);
          }),
        () => {
          // The message is gone (deleted by someone): show the alert in a new one.
          messages.saveRendered({ ...base, messageId: undefined, renderedHash: undefined, renderedVersion: 0, renderedAt: now() });
        },
      );
      return;
    }
    await call(
      job,
      () => api.sendMessage(job.chatId, rendered.message.text, rendered.message.keyboard),
      (sent) =>
        messages.transaction(() => {
          messages.saveRendered({ ...base, messageId: sent.messageId, renderedAt: now() });
          messages.complete(job);
        }),
    );
  }

  async function sendDigest(job: QueueJob, fresh: QueueJob[]): Promise<void> {
    const t = chatTranslations(deps.config, job.chatId);
    const byAgent = new Map<string, Map<string, number>>();
    const included: Array<{ job: QueueJob; version: number; severity: number; phase: string }> = [];
    for (const item of fresh) {
      const found = renderer.view(item.alertId!, item.chatId);
      if (!found) {
        messages.drop(item.id);
        continue;
      }
      const kinds = byAgent.get(found.record.agentId) ?? new Map<string, number>();
      const name = kindName(found.record.alert.kind, t);
      kinds.set(name, (kinds.get(name) ?? 0) + 1);
      byAgent.set(found.record.agentId, kinds);
      included.push({ job: item, version: found.record.version, severity: found.record.alert.severity, phase: phaseKey(found.view) });
    }
    if (included.length === 0) return;
    const lines = [...byAgent].map(([agentId, kinds]) => {
      const count = [...kinds.values()].reduce((a, b) => a + b, 0);
      const parts = [...kinds].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${n} × ${escapeHtml(name)}`).join(", ");
      return `📦 ${t.digest({ count: String(count), server: `<b>${escapeHtml(agentId)}</b>`, parts })}`;
    });
    const [first, ...rest] = splitMessage(lines.join("\n"), t.truncated);
    await call(job, () => api.sendMessage(job.chatId, first!, []), (sent) =>
      messages.transaction(() => {
        for (const item of included) {
          messages.saveRendered({
            alertId: item.job.alertId!,
            chatId: item.job.chatId,
            messageId: undefined,
            digestMessageId: sent.messageId,
            renderedVersion: item.version,
            renderedPhase: `digest:${item.phase}`,
            renderedHash: undefined,
            firstSeverity: item.severity,
            renderedAt: now(),
          });
          messages.complete(item.job);
        }
        for (const text of rest) messages.enqueueText(job.chatId, { text }, Priority.fresh, now());
      }),
    );
    logger.info({ chatId: job.chatId, alerts: included.length }, "telegram: alerts grouped into a digest");
  }

  /** Makes one API call; on failure decides (once, here) whether and when to retry. */
  async function call<T>(job: QueueJob, send: () => Promise<T>, onSuccess: (result: T) => void, onGone?: () => void): Promise<void> {
    let result: T;
    try {
      result = await send();
    } catch (err) {
      pace.record(job.chatId, now());
      const failure = classifySendError(err);
      switch (failure.type) {
        case "not_modified":
          onSuccess(undefined as T);
          return;
        case "rate_limited":
          deps.onRateLimited?.();
          pace.pauseUntil(now() + failure.retryAfterMs);
          messages.postpone(job.id, now() + failure.retryAfterMs);
          logger.warn({ chatId: job.chatId, retryAfterMs: failure.retryAfterMs }, "telegram: rate limited, waiting");
          return;
        case "transient":
          messages.postpone(job.id, now() + backoffMs(job.attempts));
          logger.warn({ err: toSecarcError(err, "telegram call failed"), attempts: job.attempts + 1 }, "telegram: call failed, will retry");
          return;
        case "message_gone":
          if (onGone) {
            onGone();
            return;
          }
          messages.drop(job.id);
          return;
        case "permanent":
          messages.drop(job.id);
          logger.error({ err: toSecarcError(err, "telegram call refused"), chatId: job.chatId }, "telegram: call refused; job dropped");
          return;
      }
    }
    // Counted when Telegram has answered, so the gap holds on its side too.
    pace.record(job.chatId, now());
    onSuccess(result);
  }

  return {
    kick,
    depth: () => messages.depth(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight.catch(() => {});
    },
  };
}
