/** English texts of labels, routes and blocks on all servers. */
export const fleetEn = {
  labelsLine: (p: { labels: string }) => `labels: ${p.labels}`,
  optedOut: "takes no part in blocks on all servers",
  /** The message that follows a block on all servers; `rest` is the list of servers not (yet) blocked. */
  fleetHeadline: (p: { target: string; blocked: number; of: number }) => `🌐 ${p.target} blocked on ${p.blocked} of ${p.of} servers`,
  fleetLifted: (p: { target: string; lifted: number; of: number }) => `🌐 ${p.target} unblocked on ${p.lifted} of ${p.of} servers`,
  /** The button beside Block IP (plain text). */
  blockEverywhere: "Block on all servers",
  /** The button of a fleet block in /blocks (plain text). */
  unblockEverywhere: (p: { ip: string }) => `Unblock ${p.ip} everywhere`,
  /** The tap's notice (plain text): how many servers were sent the block now, how many get it when they reconnect. */
  blockNotice: (p: { sent: number; queued: number }) => `Block on all servers: sent to ${p.sent}, queued for ${p.queued} offline.`,
  unblockNotice: (p: { servers: number }) => `Unblock everywhere: sent to ${p.servers} servers.`,
  /** A second tap on Block on all servers under the same alert. */
  alreadyBlocked: "This address is already being blocked on all servers from this alert.",
  alreadyLifted: "This block on all servers was already lifted.",
  unknownFleet: "This block on all servers is not known.",
  /** A fleet block in /blocks (HTML parameters): the address, then each server's state. */
  blocksLine: (p: { ip: string; until: string; servers: string }) => `🌐 ${p.ip} on all servers, until ${p.until}: ${p.servers}`,
  blockedState: "blocked",
  fleetState: {
    sent: "sent",
    queued: "queued (offline)",
    refused: (p: { detail: string }) => `refused (${p.detail})`,
    lifting: "unblock queued",
    optedOut: "opted out",
    cannotBlock: "cannot block",
    skipped: (p: { detail: string }) => `not sent (${p.detail})`,
  },
};
