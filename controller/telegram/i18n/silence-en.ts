/** English texts of /silence, /silences and the digest after a silence. */
export const silenceEn = {
  description: { silence: "Silence a server, a label or kinds for a while", silences: "Silences in force, with Unsilence buttons" },
  help: "/silence web-1 2h — hold web-1's alerts for 2 h (label:team=db, kinds such as ssh_session also work)\n/silences — silences in force",
  usage:
    "Usage: /silence TARGET DURATION [KIND ...]\nTARGET: a server, label:KEY=VALUE or all; DURATION: e.g. 30m, 2h, 1h30m (at most 30d); KIND: ssh_session, ssh_brute_force, cpu_sustained, http_404_burst, agent_offline, detector_blind.",
  problem: {
    no_target: "Which server? Give a server id, label:KEY=VALUE or all.",
    no_duration: "For how long? Give a duration such as 30m or 2h.",
    bad_duration: (p: { token: string }) => `“${p.token}” is not a duration (use e.g. 30m, 2h, 1h30m).`,
    too_long: (p: { token: string }) => `${p.token} is too long: a silence lasts at most 30 days.`,
    bad_label: (p: { token: string }) => `“${p.token}” is not a label (use label:KEY=VALUE, several joined with commas).`,
    bad_kind: (p: { token: string }) => `“${p.token}” is not an alert kind.`,
    extra: "Too many words.",
  },
  created: (p: { what: string; until: string; left: string }) => `🔕 Silenced ${p.what} until ${p.until} (${p.left}). Its alerts are stored and listed in /alerts, not posted; the ones still open come as one digest when it ends.`,
  header: (p: { count: string }) => `Silences in force (${p.count}):`,
  none: "No silence in force.",
  line: (p: { what: string; until: string; left: string; by: string }) => `🔕 ${p.what} — until ${p.until} (${p.left} left), by ${p.by}`,
  windowBy: (p: { name: string }) => `maintenance window “${p.name}”`,
  unsilenceButton: (p: { what: string }) => `Unsilence ${p.what}`,
  unsilenced: "Silence ended.",
  notInForce: "This silence is no longer in force.",
  ended: (p: { what: string; by: string }) => `🔔 Silence of ${p.what} (${p.by}) ended.`,
  stillOpen: (p: { count: string }) => `${p.count} alerts raised during it are still open:`,
  noneOpen: "No alert raised during it is still open.",
  failed: "The silence could not be stored; try again.",
};
