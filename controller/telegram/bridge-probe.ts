import { chatTranslations } from "./alert-renderer.js";
import { PROBE_WAIT_MS, type ProbeHopResult } from "./bridge.js";
import type { TelegramConfig } from "./config.js";
import type { OnceResult } from "./send-queue.js";
import { escapeHtml } from "./text-format.js";

export interface ProbeChatsDeps {
  chatIds: readonly number[];
  config: TelegramConfig;
  now: () => number;
  sendOnce(chatId: number, text: string, deadlineMs: number): Promise<OnceResult>;
}

/**
 * A probe's test message to every configured chat, once each: one hop per
 * chat when it has been sent or has failed (at most PROBE_WAIT_MS after
 * `receivedAt`).
 */
export async function probeChats(deps: ProbeChatsDeps, input: { agentId: string; alertId: string; receivedAt: number }): Promise<ProbeHopResult[]> {
  const { chatIds, config, now } = deps;
  if (chatIds.length === 0) return [{ name: "telegram", target: "", ok: false, detail: "no chat configured (telegram.chats is empty)", durationMs: now() - input.receivedAt }];
  const deadline = Math.max(1, input.receivedAt + PROBE_WAIT_MS - now());
  return Promise.all(
    chatIds.map(async (chatId) => {
      const text = chatTranslations(config, chatId).testAlert({ server: `<b>${escapeHtml(input.agentId)}</b>` });
      const result = await deps.sendOnce(chatId, text, deadline);
      const durationMs = now() - input.receivedAt;
      return result.ok
        ? { name: "telegram", target: `chat ${chatId}`, ok: true, detail: `message ${result.messageId} sent`, durationMs }
        : { name: "telegram", target: `chat ${chatId}`, ok: false, detail: result.reason, durationMs };
    }),
  );
}
