import { Composer, type Context } from "telegraf";
import { detectorSourceLines } from "./detector-source-lines.js";
import type { Store } from "../store/store.js";
import { activeBlocks } from "./active-blocks.js";
import { alertBody, severityMarker, type InlineButton } from "./alert-message.js";
import { chatTranslations } from "./alert-renderer.js";
import type { BridgeServices } from "./bridge-services.js";
import { encodeCallback } from "./callback-data.js";
import type { TelegramSendHealth } from "./failure-watch.js";
import { translations, type Locale, type Translations } from "./i18n/translations.js";
import { escapeHtml, formatTime, splitMessage } from "./text-format.js";

/** Open alerts shown per /alerts page, each with a Show button. */
export const ALERTS_PAGE_SIZE = 20;
const MAX_OPEN_ALERTS = 10_000;

export interface Commands {
  composer: Composer<Context>;
  /** Sends one page of /alerts to a chat (also used by the "more" button). */
  showAlerts(chatId: number, offset: number): void;
}

/** The command list for setMyCommands, in a language. */
export function commandList(locale: Locale): Array<{ command: string; description: string }> {
  const d = translations[locale].command.description;
  return [
    { command: "status", description: d.status },
    { command: "alerts", description: d.alerts },
    { command: "blocks", description: d.blocks },
    { command: "allows", description: d.allows },
    { command: "help", description: d.help },
  ];
}

/** A short reference of an alert shown in lists: the last 8 characters of its id. */
export function alertRef(alertId: string): string {
  return alertId.replace(/-/g, "").slice(-8);
}

/** A past run of failed sends is shown in /status for this long after it ended. */
const SHOW_INCIDENT_MS = 86_400_000;

/** What /status needs beyond the bridge services. */
export interface CommandsExtras {
  /** The failure watch's view of Telegram sends. Default: not shown. */
  sendHealth?: () => TelegramSendHealth;
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

  composer.command("help", (ctx) => {
    services.reply(ctx.chat.id, { text: escapeHtml(chatTranslations(config, ctx.chat.id).command.help) });
  });

  composer.command("status", (ctx) => {
    const t = chatTranslations(config, ctx.chat.id);
    const agents = store.listAgents();
    const health = extras.sendHealth ? sendHealthLine(extras.sendHealth(), t, now()) : undefined;
    if (agents.length === 0) return services.reply(ctx.chat.id, { text: health ? `${t.command.noServers}\n\n${health}` : t.command.noServers });
    const lines = [t.command.statusHeader({ count: String(agents.length) })];
    for (const agent of agents) {
      // A revoked agent is shown as such whatever its link says: its certificate no longer identifies it.
      const revoked = agent.revokedAt !== undefined;
      lines.push(
        `${revoked ? "⛔" : agent.online ? "🟢" : "🔴"} ${t.command.statusLine({
          server: `<b>${escapeHtml(agent.agentId)}</b>`,
          state: revoked ? t.command.revoked : agent.online ? t.command.online : t.command.offline,
          lastSeen: formatTime(agent.lastSeen.getTime()),
        })}`,
        ...detectorSourceLines(agent, t),
      );
    }
    if (health) lines.push("", health);
    for (const text of splitMessage(lines.join("\n"), t.truncated)) services.reply(ctx.chat.id, { text });
  });

  composer.command("alerts", (ctx) => showAlerts(ctx.chat.id, 0));

  composer.command("blocks", (ctx) => {
    const t = chatTranslations(config, ctx.chat.id);
    const blocks = activeBlocks(trackedActions(store, services), now());
    if (blocks.length === 0) return services.reply(ctx.chat.id, { text: t.command.noBlocks });
    for (let i = 0; i < blocks.length; i += ALERTS_PAGE_SIZE) {
      const page = blocks.slice(i, i + ALERTS_PAGE_SIZE);
      const lines = i === 0 ? [t.command.blocksHeader({ count: String(blocks.length) })] : [];
      const keyboard: InlineButton[][] = [];
      for (const block of page) {
        const until = block.expiresAt ? formatTime(block.expiresAt.getTime()) : t.command.untilUnblocked;
        lines.push(`⛔ ${t.command.blockLine({ ip: `<code>${escapeHtml(block.ip)}</code>`, server: `<b>${escapeHtml(block.agentId)}</b>`, until })}`);
        const data = encodeCallback({ type: "unblock", actionId: block.action.actionId });
        if (data) keyboard.push([{ text: t.command.unblockButton({ ip: block.ip, server: block.agentId }), callback_data: data }]);
      }
      services.reply(ctx.chat.id, { text: lines.join("\n"), keyboard });
    }
  });

  function showAlerts(chatId: number, offset: number): void {
    const t = chatTranslations(config, chatId);
    const open = store.listOpenAlerts(Math.min(MAX_OPEN_ALERTS, offset + ALERTS_PAGE_SIZE + 1));
    if (open.length === 0) return services.reply(chatId, { text: t.command.noAlerts });
    const page = open.slice(offset, offset + ALERTS_PAGE_SIZE);
    const total = store.listOpenAlerts(MAX_OPEN_ALERTS).length;
    const lines = [t.command.alertsHeader({ count: String(total) }) + (offset > 0 ? ` (${offset + 1}–${offset + page.length})` : "")];
    const buttons: InlineButton[] = [];
    page.forEach((record) => {
      const ref = alertRef(record.alertId);
      lines.push(`${severityMarker(record.alert.severity)} <code>${ref}</code> <b>${escapeHtml(record.agentId)}</b> · ${alertBody(record.alert, t)} · ${formatTime(record.receivedAt.getTime())}`);
      const data = encodeCallback({ type: "open", alertId: record.alertId });
      if (data) buttons.push({ text: t.command.openButton({ n: ref }), callback_data: data });
    });
    const keyboard: InlineButton[][] = [];
    for (let i = 0; i < buttons.length; i += 4) keyboard.push(buttons.slice(i, i + 4));
    if (open.length > offset + ALERTS_PAGE_SIZE) {
      const more = encodeCallback({ type: "alerts", offset: offset + ALERTS_PAGE_SIZE });
      if (more) keyboard.push([{ text: t.command.moreButton, callback_data: more }]);
    }
    const parts = splitMessage(lines.join("\n"), t.truncated);
    parts.forEach((text, index) => services.reply(chatId, index === parts.length - 1 ? { text, keyboard } : { text }));
  }

  return { composer, showAlerts };
}

function trackedActions(store: Store, services: BridgeServices) {
  return services.messages
    .listTrackedBlocks()
    .map((tracked) => store.getAction(tracked.actionId))
    .filter((action) => action !== undefined);
}

