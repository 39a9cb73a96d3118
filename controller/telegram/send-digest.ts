import type { Logger } from "../../common/log.js";
import { kindName } from "./alert-message.js";
import type { AlertRenderer } from "./alert-renderer.js";
import { chatTranslations } from "./alert-renderer.js";
import { phaseKey } from "./alert-view.js";
import type { TelegramConfig } from "./config.js";
import type { Translations } from "./i18n/translations.js";
import { Priority, type QueueJob, type TelegramStore } from "../store/telegram-store.js";
import type { BotApi, SendCall } from "./send-call.js";
import { escapeHtml, splitMessage } from "./text-format.js";

export interface DigestDeps {
  api: BotApi;
  messages: TelegramStore;
  renderer: AlertRenderer;
  config: TelegramConfig;
  logger: Logger;
  now: () => number;
  call: SendCall;
  /** The forum topic an alert goes to in a chat; the digest goes where its first alert goes. Default: none. */
  threadOf?: (chatId: number, alertId: string) => number | undefined;
}

/** Sends the new-alert jobs piled up for a chat as one digest message. */
export type SendDigest = (job: QueueJob, fresh: QueueJob[]) => Promise<void>;

export function createDigestSender(deps: DigestDeps): SendDigest {
  const { api, messages, renderer, logger, now, call } = deps;
  return async function sendDigest(job, fresh) {
    const t = chatTranslations(deps.config, job.chatId);
    const byAgent = new Map<string, Map<string, number>>();
    const included: Array<{ job: QueueJob; version: number; severity: number; phase: string }> = [];
    for (const item of fresh) {
      const found = await renderer.view(item.alertId!, item.chatId);
      if (!found) {
        await messages.drop(item.id);
        continue;
      }
      const kinds = byAgent.get(found.record.agentId) ?? new Map<string, number>();
      const name = kindName(found.record.alert.kind, t);
      kinds.set(name, (kinds.get(name) ?? 0) + 1);
      byAgent.set(found.record.agentId, kinds);
      included.push({ job: item, version: found.record.version, severity: found.record.alert.severity, phase: phaseKey(found.view) });
    }
    if (included.length === 0) return;
    const [first, ...rest] = renderDigest(byAgent, t);
    await call(job, () => api.sendMessage(job.chatId, first!, [], deps.threadOf?.(job.chatId, included[0]!.job.alertId!)), (sent) =>
      messages.transaction(async (tx) => {
        for (const item of included) {
          await tx.saveRendered({
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
          await tx.complete(item.job);
        }
        for (const text of rest) await tx.enqueueText(job.chatId, { text }, Priority.fresh, now());
      }),
    );
    logger.info({ chatId: job.chatId, alerts: included.length }, "telegram: alerts grouped into a digest");
  };
}

/** The digest's messages (HTML, each within Telegram's limit): per server, how many new alerts of which kinds. */
export function renderDigest(byAgent: ReadonlyMap<string, ReadonlyMap<string, number>>, t: Translations): string[] {
  const lines = [...byAgent].map(([agentId, kinds]) => {
    const count = [...kinds.values()].reduce((a, b) => a + b, 0);
    const parts = [...kinds].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${n} × ${escapeHtml(name)}`).join(", ");
    return `📦 ${t.digest({ count: String(count), server: `<b>${escapeHtml(agentId)}</b>`, parts })}`;
  });
  return splitMessage(lines.join("\n"), t.truncated);
}
