/** English texts of labels, routes and blocks on all servers. */
export const fleetEn = {
  labelsLine: (p: { labels: string }) => `labels: ${p.labels}`,
  optedOut: "takes no part in blocks on all servers",
  /** The message that follows a block on all servers; `rest` is the list of servers not (yet) blocked. */
  fleetHeadline: (p: { target: string; blocked: number; of: number }) => `🌐 ${p.target} blocked on ${p.blocked} of ${p.of} servers`,
  fleetLifted: (p: { target: string; lifted: number; of: number }) => `🌐 ${p.target} unblocked on ${p.lifted} of ${p.of} servers`,
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
