import { Composer, type Context } from "telegraf";
import { createAnswerCallbacks } from "./answer-callbacks.js";
import type { BridgeServices } from "./bridge-services.js";
import { createTapDecoder, onTap } from "./callback-tap.js";
import { createListCallbacks } from "./list-callbacks.js";
import { Priority } from "../store/telegram-store.js";

export interface AlertCallbacks {
  composer: Composer<Context>;
  /** Clears pending confirmations and their timers. */
  stop(): void;
}

/**
 * Button presses, one composer per feature: the decoder refuses callback
 * data (untrusted) that is no command; then /alerts paging and its Open
 * buttons, the answers under an alert (answer-callbacks.ts), and the
 * Unblock / Revoke buttons of /blocks and /allows (list-callbacks.ts).
 * Every callback query is answered once, by the feature that takes it.
 */
export function createAlertCallbacks(services: BridgeServices, showAlerts: (chatId: number, offset: number) => Promise<boolean>): AlertCallbacks {
  const answers = createAnswerCallbacks(services);
  const composer = Composer.compose<Context>([createTapDecoder(services), createAlertListCallbacks(services, showAlerts), answers.composer, createListCallbacks(services)]);
  return { composer: new Composer<Context>(composer), stop: () => answers.stop() };
}

/** /alerts: its page buttons (a forged or stale offset is no page: refused, nothing sent) and Open, which shows an alert's message again. */
function createAlertListCallbacks(services: BridgeServices, showAlerts: (chatId: number, offset: number) => Promise<boolean>): Composer<Context> {
  return onTap(services, ["alerts", "open"], async (command, tap) => {
    if (command.type === "alerts") return (await showAlerts(tap.chatId, command.offset)) ? undefined : tap.t.notice.invalidButton;
    const record = await services.store.getAlert(command.alertId);
    if (!record) return tap.t.notice.unknownAlert;
    services.routes?.remember(record);
    await services.messages.invalidate(command.alertId, tap.chatId);
    await services.refreshAlert(command.alertId, Priority.interactive, tap.chatId);
    return undefined;
  });
}
