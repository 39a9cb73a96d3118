import type { AlertPhase, AnswerProgress } from "../domain/alert-lifecycle.js";
import type { AgentRecord, AlertRecord } from "../store/store.js";
import { answerLabel } from "./alert-labels.js";
import { describeSkew, isSkewed } from "../link/clock-skew.js";
import type { ActiveBlock } from "./active-blocks.js";
import { alertBody, severityMarker, type InlineButton, type InlineKeyboard } from "./alert-message.js";
import { encodeCallback } from "./callback-data.js";
import { detectorSourceLines, unavailableAnswerLines } from "./detector-source-lines.js";
import { hostFactsLines } from "./host-facts-line.js";
import type { HostFactsRecord } from "../host/host-facts.js";
import type { Translations } from "./i18n/translations.js";
import { safeText } from "./safe-text.js";
import { escapeHtml, formatTime } from "./text-format.js";

/**
 * The replies of /status, /alerts and /blocks as pure functions of what they
 * show (HTML, buttons): every untrusted string through safe-text.ts, so the
 * property test can feed them anything.
 */

/** Open alerts shown per /alerts page, each with a Show button. */
export const ALERTS_PAGE_SIZE = 20;

export interface OutgoingPage {
  text: string;
  keyboard: InlineKeyboard;
}

/** A short reference of an alert shown in lists: the last 8 characters of its id (safe text, not escaped). */
export function alertRef(alertId: string): string {
  return Array.from(safeText(alertId).replace(/-/g, "")).slice(-8).join("");
}

/** What /status shows of an agent. */
export type StatusAgent = Pick<AgentRecord, "agentId" | "online" | "revokedAt" | "lastSeen" | "detectorSources" | "unavailableAnswers"> & { clockSkewMs?: number | undefined; hostFacts?: HostFactsRecord | undefined; labels?: Readonly<Record<string, string>>; fleetBlockOptOut?: boolean };

/** /status: one line per server (online, offline, revoked) with its host, its detector sources, and the send-health line, if any; `now` counts the hosts' uptimes. */
export function renderStatus(agents: readonly StatusAgent[], health: string | undefined, t: Translations, now = Date.now()): string {
  if (agents.length === 0) return health ? `${t.command.noServers}\n\n${health}` : t.command.noServers;
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
      ...(isSkewed(agent.clockSkewMs) ? [`   ${t.clockSkew({ skew: describeSkew(agent.clockSkewMs) })}`] : []),
      ...hostFactsLines(agent, now, t),
      ...labelLines(agent, t),
      ...detectorSourceLines(agent, t),
      ...unavailableAnswerLines(agent, t),
    );
  }
  if (health) lines.push("", health);
  return lines.join("\n");
}

/** /alerts, one page: `total` is the count of open alerts, `capped` when there are more than that. */
/** Where an alert on /alerts stands (the domain's lifecycle): waiting, answered and how it went, or expired. */
export function phaseNote(phase: AlertPhase, t: Translations, alert: AlertRecord["alert"]): string {
  switch (phase.type) {
    case "open":
      return `⏳ ${t.lifecycle.awaiting}`;
    case "expired":
      return `⌛ ${t.lifecycle.expired}`;
    case "resolved":
      return `✅ ${t.lifecycle.resolved}`;
    case "answered":
      return `${PROGRESS_MARK[phase.outcome.progress]} ${escapeHtml(answerLabel(phase.outcome.answer, t, alert))}`;
  }
}
const PROGRESS_MARK: Record<AnswerProgress, string> = { sent: "📤", queued: "🕓", done: "✅", failed: "❌", refused: "🚫" };

/** One /alerts page; `phases` (by alert id) adds where each alert stands. */
export function renderAlertsPage(page: readonly AlertRecord[], at: { offset: number; total: number; capped: boolean; more: boolean }, t: Translations, phases?: ReadonlyMap<string, AlertPhase>): OutgoingPage {
  const count = at.capped ? `${at.total}+` : String(at.total);
  const lines = [t.command.alertsHeader({ count }) + (at.offset > 0 ? ` (${at.offset + 1}–${at.offset + page.length})` : "")];
  const buttons: InlineButton[] = [];
  for (const record of page) {
    const ref = alertRef(record.alertId);
    const phase = phases?.get(record.alertId);
    const note = phase ? ` · ${phaseNote(phase, t, record.alert)}` : "";
    lines.push(`${severityMarker(record.alert.severity)} <code>${escapeHtml(ref)}</code> <b>${escapeHtml(record.agentId)}</b> · ${alertBody(record.alert, t)} · ${formatTime(record.receivedAt.getTime())}${note}`);
    const data = encodeCallback({ type: "open", alertId: record.alertId });
    if (data) buttons.push({ text: t.command.openButton({ n: ref || "?" }), callback_data: data });
  }
  const keyboard: InlineButton[][] = [];
  for (let i = 0; i < buttons.length; i += 4) keyboard.push(buttons.slice(i, i + 4));
  if (at.more) {
    const more = encodeCallback({ type: "alerts", offset: at.offset + ALERTS_PAGE_SIZE });
    if (more) keyboard.push([{ text: t.command.moreButton, callback_data: more }]);
  }
  return { text: lines.join("\n"), keyboard };
}

/** /blocks: pages of active blocks with an Unblock button each; dry-run blocks say so (nothing was blocked). */
export function renderBlocks(blocks: readonly ActiveBlock[], t: Translations): OutgoingPage[] {
  if (blocks.length === 0) return [{ text: t.command.noBlocks, keyboard: [] }];
  const pages: OutgoingPage[] = [];
  for (let i = 0; i < blocks.length; i += ALERTS_PAGE_SIZE) {
    const lines = i === 0 ? [t.command.blocksHeader({ count: String(blocks.length) })] : [];
    const keyboard: InlineButton[][] = [];
    for (const block of blocks.slice(i, i + ALERTS_PAGE_SIZE)) {
      const until = block.expiresAt ? formatTime(block.expiresAt.getTime()) : t.command.untilUnblocked;
      const line = t.command.blockLine({ ip: `<code>${escapeHtml(block.blocked)}</code>`, server: `<b>${escapeHtml(block.agentId)}</b>`, until });
      if (block.action.dryRun) {
        lines.push(`🧪 ${line} — ${t.lifecycle.dryRun}`);
        continue;
      }
      lines.push(`⛔ ${line}`);
      const data = encodeCallback({ type: "unblock", actionId: block.action.actionId });
      if (data) keyboard.push([{ text: t.command.unblockButton({ ip: safeText(block.blocked, { max: 45 }), server: safeText(block.agentId, { max: 40 }) }), callback_data: data }]);
    }
    pages.push({ text: lines.join("\n"), keyboard });
  }
  return pages;
}

/** /status: a server's labels and its fleet-block opt-out, when it has them (values are checked at the link, escaped here regardless). */
function labelLines(agent: { labels?: Readonly<Record<string, string>>; fleetBlockOptOut?: boolean }, t: Translations): string[] {
  const labels = Object.entries(agent.labels ?? {}).map(([key, value]) => `${key}=${value}`);
  return [
    ...(labels.length > 0 ? [`   🏷 ${t.fleet.labelsLine({ labels: `<code>${escapeHtml(safeText(labels.join(", "), { max: 300 }))}</code>` })}`] : []),
    ...(agent.fleetBlockOptOut ? [`   ${escapeHtml(t.fleet.optedOut)}`] : []),
  ];
}
