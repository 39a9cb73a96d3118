import type { FleetStatus } from "../domain/fleet-blocks.js";
import type { Translations } from "./i18n/translations.js";
import { safeHtml } from "./safe-text.js";

/** Longest agent text (a refusal's reason) shown per server. */
const DETAIL_MAX = 60;
const NAME_MAX = 64;

type Member = FleetStatus["members"][number];

/**
 * The one message that follows a block on all servers, in Telegram HTML:
 * "🌐 203.0.113.7 blocked on 12 of 14 servers · db-1 queued (offline) ·
 * web-3 refused (allowed until 14:00)". The count is of the servers that
 * were sent the BLOCK_IP; every server not blocked is named with its state.
 * Once lifted, it counts the servers that unblocked. Servers are named by agent id (as alert messages name them); names and reasons come
 * from agents and pass through safeHtml.
 */
export function fleetSummaryText(status: FleetStatus, t: Translations): string {
  const target = safeHtml(status.block.ip, { max: NAME_MAX });
  const taking = status.members.filter((m) => m.state !== "skipped");
  const lifted = status.block.liftedAt !== undefined;
  const headline = lifted
    ? t.fleet.fleetLifted({ target, lifted: taking.filter((m) => m.state === "lifted").length, of: taking.length })
    : t.fleet.fleetHeadline({ target, blocked: taking.filter((m) => m.state === "blocked").length, of: taking.length });
  const rest = status.members.filter((m) => (lifted ? m.state !== "lifted" : m.state !== "blocked")).map((m) => `${safeHtml(m.agentId, { max: NAME_MAX })} ${stateText(m, t)}`);
  return [headline, ...rest].join(" · ");
}

/** One server's part as a fleet block's row in /blocks shows it: "web-1 blocked", "db-1 queued (offline)". */
export function memberLine(member: Member, t: Translations): string {
  return `${safeHtml(member.agentId, { max: NAME_MAX })} ${member.state === "blocked" ? t.fleet.blockedState : stateText(member, t)}`;
}

function stateText(member: Member, t: Translations): string {
  const s = t.fleet.fleetState;
  switch (member.state) {
    case "sent":
      return s.sent;
    case "queued":
      return s.queued;
    case "lifting":
    case "lifted":
    case "blocked":
      return s.lifting;
    case "refused":
      return s.refused({ detail: safeHtml(member.detail, { max: DETAIL_MAX }) });
    case "skipped":
      if (member.detail === "opted_out") return s.optedOut;
      if (member.detail === "cannot_block") return s.cannotBlock;
      return s.skipped({ detail: safeHtml(member.detail, { max: DETAIL_MAX }) });
  }
}
