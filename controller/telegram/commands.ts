import { Composer, type Context } from "telegraf";
import { alertLifecycle, type AlertPhase } from "../domain/alert-lifecycle.js";
import type { AlertRecord, Store } from "../store/store.js";
import { activeBlocks } from "./active-blocks.js";
import { fleetBlockList } from "./fleet-list.js";
import { chatTranslations } from "./alert-renderer.js";
import type { BridgeServices } from "./bridge-services.js";
import { ALERTS_PAGE_SIZE, renderAlertsPage, renderBlocks, renderStatus } from "./command-views.js";
import type { TelegramSendHealth } from "./failure-watch.js";
import { translations, type Locale, type Translations } from "./i18n/translations.js";
import { safeHtml } from "./safe-text.js";
import { escapeHtml, formatTime, splitMessage } from "./text-format.js";

export { ALERTS_PAGE_SIZE, alertRef } from "./command-views.js";
/** /alerts counts at most this many open alerts; above it says "10000+". */
const MAX_OPEN_ALERTS = 10_000;

export interface Commands {
  composer: Composer<Context>;
  /** Sends one page of /alerts to a chat (also used by the "more" button). */
  showAlerts(chatId: number, offset: number): Promise<boolean>;
}

/** The command list for setMyCommands, in a language. */
export function commandList(locale: Locale): Array<{ command: string; description: string }> {
  const d = translations[locale].command.description;
  return [
    { command: "status", description: d.status },
    { command: "alerts", description: d.alerts },
    { command: "blocks", description: d.blocks },
    { command: "allows", description: d.allows },
    { command: "silence", description: translations[locale].silence.description.silence },
    { command: "silences", description: translations[locale].silence.description.silences },
    { command: "help", description: d.help },
  ];
}

/** /help: the commands, silences' included. */
function helpText(t: Translations): string {
  return `${t.command.help}\n${t.silence.help}`;
}

/** A past run of failed sends is shown in /status for this long after it ended. */
const SHOW_INCIDENT_MS = 86_400_000;

/** What /status needs beyond the bridge services. */
export interface CommandsExtras {
  /** The failure watch's view of Telegram sends. Default: not shown. */
  sendHealth?: () => TelegramSendHealth;
  /** /status's line about chats whose sends are parked (blocked the bot, removed it). Default: none. */
  parkedLine?: (t: Translations) => string | undefined;
}

/** /status's line about Telegram sends: failing now, or failed within the last day; undefined otherwise. */
export function sendHealthLine(health: TelegramSendHealth, t: Translations, now: number): string | undefined {
  if (health.failing && health.failingSince !== undefined) {
    return t.sendHealth.failing({ since: formatTime(health.failingSince), error: escapeHtml(health.lastError ?? "?") });
  }
  const incident = health.lastIncident;
  if (incident && now - incident.until <= SHOW_INCIDENT_MS) {
    return t.sendHealth.failed({ since: formatTime(incident.since), until: formatTime(incident.until), error: escapeHtml(incident.lastError) });
  }
  return undefined;
}

/** /status, /alerts, /blocks and /help. Replies go through the send queue. */
export function createCommands(services: BridgeServices, extras: CommandsExtras = {}): Commands {
  const { config, store, now } = services;
  const composer = new Composer<Context>();

  // /start (Telegram sends it when a chat with the bot begins): a welcome, then /help.
  composer.start((ctx) => {
    const t = chatTranslations(config, ctx.chat.id);
    services.reply(ctx.chat.id, { text: safeHtml(`${t.notice.welcome}\n\n${helpText(t)}`, { keepNewlines: true }) });
  });

  composer.command("help", (ctx) => {
    services.reply(ctx.chat.id, { text: safeHtml(helpText(chatTranslations(config, ctx.chat.id)), { keepNewlines: true }) });
  });

  composer.command("status", async (ctx) => {
    const t = chatTranslations(config, ctx.chat.id);
    const health = extras.sendHealth ? sendHealthLine(extras.sendHealth(), t, now()) : undefined;
    const parked = extras.parkedLine?.(t);
    const text = renderStatus((await store.listAgents()).filter((a) => services.routes?.coversAgent(ctx.chat.id, a.agentId) ?? true), [health, parked].filter(Boolean).join("\n") || undefined, t, now());
    for (const part of splitMessage(text, t.truncated)) services.reply(ctx.chat.id, { text: part });
  });

  composer.command("alerts", async (ctx) => void (await showAlerts(ctx.chat.id, 0)));

  composer.command("blocks", async (ctx) => {
    const t = chatTranslations(config, ctx.chat.id);
    // Blocks on all servers first, one row each; their parts are not listed again per server.
    const fleet = services.fleet ? await fleetBlockList(services.fleet.blocks, t) : { pages: [], memberActions: new Set<string>() };
    const blocks = activeBlocks(await trackedActions(store, services, ctx.chat.id), now()).filter((block) => !fleet.memberActions.has(block.action.actionId));
    const pages = [...fleet.pages, ...(blocks.length > 0 || fleet.pages.length === 0 ? renderBlocks(blocks, t) : [])];
    for (const page of pages) services.reply(ctx.chat.id, page);
  });

  /** Sends one page of /alerts; false (nothing sent) for an offset that is not a page of the open alerts (forged or stale). */
  async function showAlerts(chatId: number, offset: number): Promise<boolean> {
    const t = chatTranslations(config, chatId);
    // Only what this chat's routes cover.
    const open = (await store.listOpenAlerts(MAX_OPEN_ALERTS + 1)).filter((record) => services.routes?.coversAlert(chatId, record) ?? true);
    const capped = open.length > MAX_OPEN_ALERTS;
    const total = Math.min(open.length, MAX_OPEN_ALERTS);
    if (offset % ALERTS_PAGE_SIZE !== 0 || (offset > 0 && offset >= total)) return false;
    if (total === 0) {
      services.reply(chatId, { text: t.command.noAlerts });
      return true;
    }
    const page = open.slice(offset, Math.min(total, offset + ALERTS_PAGE_SIZE));
    const rendered = renderAlertsPage(page, { offset, total, capped, more: total > offset + ALERTS_PAGE_SIZE }, t, await phasesOf(page));
    const parts = splitMessage(rendered.text, t.truncated);
    parts.forEach((text, index) => services.reply(chatId, index === parts.length - 1 ? { text, keyboard: rendered.keyboard } : { text }));
    return true;
  }

  /** Each alert's phase, by the domain's lifecycle (as its message shows it). */
  async function phasesOf(page: readonly AlertRecord[]): Promise<Map<string, AlertPhase>> {
    const phases = new Map<string, AlertPhase>();
    for (const record of page) {
      const [actions, agent] = await Promise.all([store.listActionsForAlert(record.alertId), store.getAgent(record.agentId)]);
      phases.set(record.alertId, alertLifecycle(record, actions, now(), { answerWindowMs: config.answerWindow, agentOnline: agent?.online ?? false }).phase);
    }
    return phases;
  }

  return { composer, showAlerts };
}

async function trackedActions(store: Store, services: BridgeServices, chatId: number) {
  const rows = (await services.messages.listTrackedBlocks()).filter((tracked) => services.routes?.coversAgent(chatId, tracked.agentId) ?? true);
  const actions = await Promise.all(rows.map((tracked) => store.getAction(tracked.actionId)));
  return actions.filter((action) => action !== undefined);
}

