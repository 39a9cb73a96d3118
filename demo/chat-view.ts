import type { FakeBotApi, FakeCall, FakeMessage, FakeUser } from "../testing/fake-bot-api.js";

/**
 * Shows the fake Telegram chat in a terminal: each message as it is sent or
 * edited, with its buttons numbered, and lets the person press a button by
 * typing its number or its label, or send a command such as /status.
 */

export interface ChatView {
  /** Handles one line typed by the person; returns what happened, for the prompt. */
  input(line: string): string;
  /** The buttons on screen now: number → label. */
  buttons(): Array<{ number: number; label: string; messageId: number }>;
  /** Presses the first button whose label matches (case-insensitive), on the newest message that has one. */
  pressLabel(label: string): boolean;
  stop(): void;
}

interface Shown {
  number: number;
  label: string;
  chatId: number;
  messageId: number;
  data: string;
}

const EDIT_METHODS = new Set(["editMessageText", "editMessageReplyMarkup"]);
const ENTITIES: Record<string, string> = { "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'" };

/** Telegram HTML to terminal text: tags dropped, entities decoded. */
export function plainText(html: string): string {
  return html.replace(/<[^>]+>/g, "").replace(/&(lt|gt|amp|quot|#39);/g, (entity) => ENTITIES[entity] ?? entity);
}

export function createChatView(deps: { api: FakeBotApi; chatId: number; user: FakeUser; write: (text: string) => void }): ChatView {
  const { api, chatId, user, write } = deps;
  let next = 1;
  const shown: Shown[] = [];

  const show = (message: FakeMessage, how: "new" | "edited") => {
    // Buttons of an older version of this message can no longer be pressed.
    for (let i = shown.length - 1; i >= 0; i -= 1) if (shown[i]!.messageId === message.messageId) shown.splice(i, 1);
    const rows = message.replyMarkup?.inline_keyboard ?? [];
    const buttonLines = rows.map((row) =>
      row
        .filter((button) => button.callback_data !== undefined)
        .map((button) => {
          const entry: Shown = { number: next++, label: button.text, chatId: message.chatId, messageId: message.messageId, data: button.callback_data! };
          shown.push(entry);
          return `[${entry.number}] ${button.text}`;
        })
        .join("   "),
    );
    const title = `── Telegram · message ${message.messageId} (${how}) `;
    const body = plainText(message.text).split("\n").map((line) => `│ ${line}`);
    const buttons = buttonLines.filter((line) => line.length > 0).map((line) => `│ ${line}`);
    write([`┌${title}${"─".repeat(Math.max(0, 60 - title.length))}`, ...body, ...(buttons.length > 0 ? ["│", ...buttons] : []), "└" + "─".repeat(60), ""].join("\n"));
  };

  const onCall = (call: FakeCall) => {
    if (call.status !== 200 || Number(call.params.chat_id) !== chatId) return;
    if (call.method === "sendMessage") {
      const messages = api.messagesIn(chatId);
      const message = messages[messages.length - 1];
      if (message) show(message, "new");
    } else if (EDIT_METHODS.has(call.method)) {
      const message = api.message(chatId, Number(call.params.message_id));
      if (message) show(message, "edited");
    }
  };
  api.events.on("call", onCall);

  const press = (entry: Shown): string => {
    api.tapButton(entry.chatId, entry.messageId, entry.data, user);
    return `pressed "${entry.label}" on message ${entry.messageId}`;
  };

  const findLabel = (label: string): Shown | undefined => {
    const wanted = label.trim().toLowerCase();
    for (let i = shown.length - 1; i >= 0; i -= 1) if (shown[i]!.label.toLowerCase() === wanted) return shown[i];
    for (let i = shown.length - 1; i >= 0; i -= 1) if (shown[i]!.label.toLowerCase().includes(wanted)) return shown[i];
    return undefined;
  };

  return {
    input(line) {
      const text = line.trim();
      if (text === "") return "";
      if (text.startsWith("/")) {
        api.sendCommand(chatId, user, text);
        return `sent ${text}`;
      }
      if (/^\d+$/.test(text)) {
        const entry = shown.find((s) => s.number === Number(text));
        return entry ? press(entry) : `no button [${text}] on screen`;
      }
      const entry = findLabel(text);
      return entry ? press(entry) : `no button labelled "${text}" on screen (type its number, its label, /status, /alerts, /blocks, /help or q)`;
    },
    buttons: () => shown.map(({ number, label, messageId }) => ({ number, label, messageId })),
    pressLabel(label) {
      const entry = findLabel(label);
      if (entry) press(entry);
      return entry !== undefined;
    },
    stop: () => void api.events.off("call", onCall),
  };
}
