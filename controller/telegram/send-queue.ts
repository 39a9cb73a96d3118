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
import { backoffMs, classifySendError, toSecarcError, type SendFailure } from "./telegram-errors.js";
import { escapeHtml, splitMessage } from "./text-format.js";

/** The two Bot API calls the queue makes. */
export interface BotApi {
  sendMessage(chatId: number, text: string, keyboard: InlineKeyboard): Promise<{ messageId: number }>;
  editMessage(chatId: number, messageId: number, text: string, keyboard: InlineKeyboard): Promise<void>;
}

/** How one Bot API call ended, as the queue saw it (for the failure watch). */
export type CallOutcome = { ok: true } | { ok: false; failure: SendFailure["type"]; reason: string };

/** The result of a one-off message (sendOnce). */
export type OnceResult = { ok: true; messageId: number } | { ok: false; reason: string };

export interface SendQueue {
  /** Looks for due work now (call after enqueueing). */
  kick(): void;
  /**
   * Sends one message once, ahead of the durable jobs and at the chat's pace,
   * and resolves to what Telegram answered: no retry, nothing stored (a
   * probe's test message). Resolves with a failure when the message could not
   * be sent, or Telegram did not answer, within `deadlineMs`.
   */
  sendOnce(chatId: number, text: string, deadlineMs: number): Promise<OnceResult>;
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
  /** Called after every Bot API call with how it ended (for the failure watch). */
  onOutcome?: (outcome: CallOutcome) => void;
}

/**
 * A failed Bot API call in words, for operators: "Telegram answered 401:
 * Unauthorized", "Telegram unreachable: connect ECONNREFUSED ...". The bot
 * token, part of the URL in network errors, is never included.
 */
export function describeSendError(err: unknown): string {
  const e = (err ?? {}) as { response?: { error_code?: unknown; description?: unknown; parameters?: { retry_after?: unknown } }; message?: unknown };
  const code = typeof e.response?.error_code === "number" ? e.response.error_code : undefined;
  const redact = (text: string) => text.replace(/\/bot[^/\s]+/g, "/bot<token>");
  if (code !== undefined) {
    const description = redact(String(e.response?.description ?? "")).replace(/^Error$/, "");
    const retryAfter = code === 429 ? Number(e.response?.parameters?.retry_after) : NaN;
    const extra = Number.isFinite(retryAfter) && retryAfter > 0 ? ` (retry after ${retryAfter} s)` : "";
    return `Telegram answered ${code}${description ? `: ${description}` : ""}${extra}`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `Telegram unreachable: ${redact(message)}`;
}

/** A one-off message waiting for its chat's pace. */
interface OnceJob {
  chatId: number;
  text: string;
  settle(result: OnceResult): void;
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
  const onceJobs: OnceJob[] = [];

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
      let onceWake = Infinity;
      const once = onceJobs.find((job) => {
        const allowed = pace.nextAllowed(job.chatId, at);
        onceWake = Math.min(onceWake, allowed);
        return allowed <= at;
      });
      if (once) {
        onceJobs.splice(onceJobs.indexOf(once), 1);
        await runOnce(once);
        continue;
      }
      const jobs = messages.listDue(at, SCAN);
      let next: QueueJob | undefined;
      let wakeAt = messages.nextNotBefore() ?? Infinity;
      if (wakeAt <= at) wakeAt = Infinity;
      wakeAt = Math.min(wakeAt, onceWake);
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

  async function runOnce(job: OnceJob): Promise<void> {
    try {
      const sent = await api.sendMessage(job.chatId, job.text, []);
      pace.record(job.chatId, now());
      deps.onOutcome?.({ ok: true });
      job.settle({ ok: true, messageId: sent.messageId });
    } catch (err) {
      pace.record(job.chatId, now());
      const failure = classifySendError(err);
      if (failure.type === "rate_limited") {
        deps.onRateLimited?.();
        pace.pauseUntil(now() + failure.retryAfterMs);
      }
      const reason = describeSendError(err);
      deps.onOutcome?.({ ok: false, failure: failure.type, reason });
      logger.warn({ chatId: job.chatId, reason }, "telegram: one-off message not sent");
      job.settle({ ok: false, reason });
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
      // An edit that changes nothing, or of a deleted message: Telegram answered.
      if (failure.type === "not_modified" || failure.type === "message_gone") deps.onOutcome?.({ ok: true });
      else deps.onOutcome?.({ ok: false, failure: failure.type, reason: describeSendError(err) });
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
    deps.onOutcome?.({ ok: true });
    onSuccess(result);
  }

  function sendOnce(chatId: number, text: string, deadlineMs: number): Promise<OnceResult> {
    return new Promise<OnceResult>((resolve) => {
      let settled = false;
      const job: OnceJob = {
        chatId,
        text,
        settle(result) {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          resolve(result);
        },
      };
      const deadline = setTimeout(() => {
        const waiting = onceJobs.indexOf(job);
        if (waiting >= 0) onceJobs.splice(waiting, 1);
        const seconds = Math.round(deadlineMs / 100) / 10;
        const paused = pace.nextAllowed(chatId, now()) > now();
        job.settle({
          ok: false,
          reason:
            waiting >= 0
              ? `not sent within ${seconds} s: ${paused ? "waiting for Telegram's rate limit" : "the send queue is busy"}`
              : `no answer from Telegram within ${seconds} s`,
        });
      }, deadlineMs);
      deadline.unref();
      if (stopped) {
        job.settle({ ok: false, reason: "the controller is stopping" });
        return;
      }
      onceJobs.push(job);
      kick();
    });
  }

  return {
    kick,
    sendOnce,
    depth: () => messages.depth(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const job of onceJobs.splice(0)) job.settle({ ok: false, reason: "the controller is stopping" });
      await inFlight.catch(() => {});
    },
  };
}
