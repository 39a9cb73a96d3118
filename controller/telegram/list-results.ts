import { Answer } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord, Store } from "../store/store.js";
import { answerLabel } from "./alert-message.js";
import { chatTranslations } from "./alert-renderer.js";
import type { TelegramConfig } from "./config.js";
import { Priority, type ListLine, type OutgoingText, type TelegramOperations, type TelegramStore } from "../store/telegram-store.js";
import { clip, escapeHtml } from "./text-format.js";

/** Where a list button was tapped, and what its message showed. */
export type ListTap = Omit<ListLine, "actionId" | "createdAt">;

/**
 * Unblock (/blocks) and Revoke (/allows) follow their action to its end in
 * the list message itself, as alert messages do: each tap adds a line (sent,
 * queued, then done / failed / refused with the server's detail) and its
 * button goes. The taps are stored (store.telegram) and the edits go through
 * the durable send queue, rendered from the actions' current state when
 * sent: a restart between tap and result still edits the right message.
 */
export interface ListResults {
  /** Records a tap that started `actionId` and queues the edit showing it (through `ops`: a transaction's, or the store). */
  tapped(tap: ListTap, actionId: string, at: number, ops?: TelegramOperations): Promise<void>;
  /** An action changed: the list message that started it, if any, is edited again. */
  changed(actionId: string, at: number, ops?: TelegramOperations): Promise<void>;
  /** The list message as it now should read; undefined if no tap is known for it. */
  render(chatId: number, messageId: number): Promise<Required<Pick<OutgoingText, "text" | "keyboard">> | undefined>;
}

export function createListResults(deps: { store: Store; messages: TelegramStore; config: TelegramConfig }): ListResults {
  const { store, messages, config } = deps;
  const queueEdit = (ops: TelegramOperations, chatId: number, messageId: number, at: number) => ops.enqueueText(chatId, { text: "", listMessageId: messageId }, Priority.interactive, at);
  return {
    async tapped(tap, actionId, at, ops = messages) {
      await ops.addListLine({ ...tap, actionId, createdAt: at });
      await queueEdit(ops, tap.chatId, tap.messageId, at);
    },
    async changed(actionId, at, ops = messages) {
      const line = await ops.listLineOf(actionId);
      if (line) await queueEdit(ops, line.chatId, line.messageId, at);
    },
    async render(chatId, messageId) {
      const lines = await messages.listLinesOfMessage(chatId, messageId);
      const first = lines[0];
      if (!first) return undefined;
      const t = chatTranslations(config, chatId);
      const tapped = new Set(lines.map((l) => l.tapped));
      const keyboard = first.keyboard.map((row) => row.filter((b) => !tapped.has(b.callback_data))).filter((row) => row.length > 0);
      const shown = (await Promise.all(lines.map((l) => resultLine(store, l.actionId, t)))).filter((l): l is string => l !== undefined);
      return { text: `${first.baseHtml}\n\n${shown.join("\n")}`, keyboard };
    },
  };
}

/** "Unblock 198.51.100.23 on web-1: ✅ done: …", every part escaped (safe-text.ts). */
async function resultLine(store: Store, actionId: string, t: ReturnType<typeof chatTranslations>): Promise<string | undefined> {
  const action = await store.getAction(actionId);
  if (!action) return undefined;
  const detail = escapeHtml(clip(action.detail, 400));
  const result = {
    pending: `🕓 ${t.lifecycle.queued}`,
    sent: `📤 ${t.lifecycle.sent}`,
    done: `✅ ${t.lifecycle.done({ detail })}`,
    failed: `❌ ${t.lifecycle.failed({ detail })}`,
    refused: `🚫 ${t.lifecycle.refused({ detail })}`,
  }[action.state];
  return t.lifecycle.listLine({ answer: escapeHtml(answerLabel(action.answer, t)), ip: `<code>${escapeHtml(clip(ipOf(action) ?? "?", 45))}</code>`, server: `<b>${escapeHtml(clip(action.agentId, 64))}</b>`, result });
}

function ipOf(action: ActionRecord): string | undefined {
  const target = action.target?.target;
  if (target?.case === "ip") return target.value;
  if (target?.case === "session") return target.value.sourceIp;
  return undefined;
}

/** Blocks for /blocks, allows for /allows (an allow also ends a block of its address): the bridge's index of address actions. */
export async function trackAddressAction(ops: TelegramOperations, action: ActionRecord | undefined, at: number): Promise<void> {
  if (!action || ![Answer.BLOCK_IP, Answer.UNBLOCK_IP, Answer.ALLOW, Answer.REVOKE_ALLOW].includes(action.answer)) return;
  await ops.trackAction({ actionId: action.actionId, agentId: action.agentId, answer: action.answer, ip: ipOf(action), createdAt: at });
}
