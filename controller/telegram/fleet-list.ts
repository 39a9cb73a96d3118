import type { FleetBlocks } from "../domain/fleet-blocks.js";
import type { InlineButton } from "./alert-message.js";
import { encodeCallback } from "./callback-data.js";
import type { OutgoingPage } from "./command-views.js";
import { memberLine } from "./fleet-summary.js";
import type { Translations } from "./i18n/translations.js";
import { safeText } from "./safe-text.js";
import { escapeHtml, fitMessage, formatTime } from "./text-format.js";

/** Servers named per fleet block in /blocks; the rest are counted. */
const SERVERS_SHOWN = 25;
/** Fleet blocks per /blocks message. */
const PER_PAGE = 10;

export interface FleetBlockList {
  /** One row per active fleet block, each with its "Unblock everywhere" button. */
  pages: OutgoingPage[];
  /** The BLOCK_IP actions that are parts of these fleet blocks (not listed again per server). */
  memberActions: Set<string>;
}

/**
 * /blocks: each active block on all servers as one row — the address, its
 * end, then every server's state — and one "Unblock everywhere" button.
 */
export async function fleetBlockList(fleet: FleetBlocks, t: Translations): Promise<FleetBlockList> {
  const rows: Array<{ line: string; button: InlineButton | undefined }> = [];
  const memberActions = new Set<string>();
  for (const block of await fleet.listActive()) {
    const status = await fleet.status(block.fleetId);
    if (!status) continue;
    for (const member of status.members) if (member.actionId !== undefined) memberActions.add(member.actionId);
    const taking = status.members.filter((m) => m.state !== "skipped");
    const named = status.members.slice(0, SERVERS_SHOWN).map((m) => memberLine(m, t));
    if (status.members.length > SERVERS_SHOWN) named.push(`+${status.members.length - SERVERS_SHOWN}`);
    const until = block.expiresAt !== undefined ? formatTime(block.expiresAt) : t.command.untilUnblocked;
    const line = t.fleet.blocksLine({ ip: `<code>${escapeHtml(safeText(block.ip, { max: 45 }))}</code>`, until, servers: `${named.join(" · ")} (${taking.filter((m) => m.state === "blocked").length}/${taking.length})` });
    const data = encodeCallback({ type: "unblockEverywhere", fleetId: block.fleetId });
    rows.push({ line: fitMessage(line, t.truncated, 380), button: data ? { text: t.fleet.unblockEverywhere({ ip: safeText(block.ip, { max: 45 }) }), callback_data: data } : undefined });
  }
  const pages: OutgoingPage[] = [];
  for (let i = 0; i < rows.length; i += PER_PAGE) {
    const page = rows.slice(i, i + PER_PAGE);
    pages.push({ text: page.map((r) => r.line).join("\n"), keyboard: page.flatMap((r) => (r.button ? [[r.button]] : [])) });
  }
  return { pages, memberActions };
}
