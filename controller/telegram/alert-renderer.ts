import { createHash } from "node:crypto";
import type { AlertRecord, Store } from "../store/store.js";
import { renderAlertMessage, type RenderedMessage } from "./alert-message.js";
import { deriveAlertView, type AlertView } from "./alert-view.js";
import type { TelegramConfig } from "./config.js";
import { translationsFor, type Locale, type Translations } from "./i18n/translations.js";
import type { TelegramStore } from "../store/telegram-store.js";

export interface RenderedAlert {
  record: AlertRecord;
  view: AlertView;
  message: RenderedMessage;
  /** A hash of text and buttons: an unchanged hash needs no edit. */
  hash: string;
}

export interface AlertRenderer {
  /**
   * What the alert's message in this chat must show now; undefined for an
   * unknown alert. `sentAgain`: the message is about to be sent again after
   * a send with no answer (otherwise the stored row tells).
   */
  render(alertId: string, chatId: number, options?: { sentAgain?: boolean }): Promise<RenderedAlert | undefined>;
  /** The derived view only (for decisions on taps). */
  view(alertId: string, chatId: number): Promise<{ record: AlertRecord; view: AlertView } | undefined>;
}

/** The language of a chat: its own, else the configured default. */
export function chatLocale(config: TelegramConfig, chatId: number): Locale {
  return config.chats.find((chat) => chat.id === chatId)?.locale ?? config.defaultLocale;
}

export function chatTranslations(config: TelegramConfig, chatId: number): Translations {
  return translationsFor(chatLocale(config, chatId));
}

/** Reads the alert, its actions and its agent from the store and derives the message. */
export function createAlertRenderer(deps: { store: Store; messages: TelegramStore; config: TelegramConfig; now: () => number; controllerAddresses?: () => readonly string[]; fleet?: { answersAlert(alertId: string): Promise<boolean> } }): AlertRenderer {
  const { store, messages, config, now } = deps;
  async function view(alertId: string, chatId: number, sentAgain?: boolean): Promise<{ record: AlertRecord; view: AlertView } | undefined> {
    const record = await store.getAlert(alertId);
    if (!record) return undefined;
    const [agent, actions, row, answeredEverywhere] = await Promise.all([
      store.getAgent(record.agentId),
      store.listActionsForAlert(alertId),
      messages.getMessage(alertId, chatId),
      deps.fleet?.answersAlert(alertId) ?? false,
    ]);
    const derived = deriveAlertView({
      record,
      actions,
      agent: agent ? { online: agent.online, actions: agent.actions, addresses: agent.addresses } : undefined,
      controllerAddresses: deps.controllerAddresses?.() ?? [],
      firstSeverity: row?.firstSeverity,
      now: now(),
      answerWindowMs: config.answerWindow,
      fleetBlocks: deps.fleet !== undefined,
      answeredEverywhere,
      sentAgain: sentAgain ?? row?.sentAgain ?? false,
    });
    return { record, view: derived };
  }
  return {
    view,
    async render(alertId, chatId, options) {
      const found = await view(alertId, chatId, options?.sentAgain);
      if (!found) return undefined;
      const message = renderAlertMessage(found.view, found.record.alert, chatTranslations(config, chatId));
      const hash = createHash("sha256").update(message.text).update("\u0000").update(JSON.stringify(message.keyboard)).digest("base64url").slice(0, 22);
      return { ...found, message, hash };
    },
  };
}
