import type { KindTextKey } from "../../domain/alert-kinds.js";
import type { AnswerEntry } from "../../domain/answers.js";
import { fleetEn } from "./fleet-en.js";
import { silenceEn } from "./silence-en.js";

/**
 * English texts: the reference table. Every other language must have the same
 * keys with the same parameters (`satisfies Translations`), so a missing or
 * misspelt key fails the build.
 *
 * Parameters arrive already HTML-escaped where they end up in message text;
 * button labels and callback-query notices are plain text.
 */
export const en = {
  severity: { info: "INFO", warning: "WARNING", critical: "CRITICAL", unknown: "UNKNOWN SEVERITY" },
  units: { s: "s", min: "min", h: "h", d: "d" },
  server: "Server",
  /** Beside a controller time when the agent's clock is off (over 30 s). */
  agentClock: (p: { time: string; skew: string }) => `agent clock: ${p.time}, ${p.skew}`,
  /** A /status line: the agent's clock is off the controller's. */
  clockSkew: (p: { skew: string }) => `⏱ clock ${p.skew} off the controller's: check NTP`,
  kindName: {
    sshSession: "SSH login",
    sshBruteForce: "SSH brute force",
    cpuSustained: "CPU sustained",
    http404Burst: "HTTP 404 burst",
    agentOffline: "Server offline",
    detectorBlind: "Detector blind",
    alertsFolded: "Alerts folded",
    unknown: "alert",
  } satisfies Record<KindTextKey | "unknown", string>,
  answer: {
    allow: "Allow",
    ignore: "Ignore",
    closeSession: "Close session",
    blockIp: "Block IP",
    unblockIp: "Unblock",
    killProcess: (p: { name: string }) => `Kill ${p.name}`,
    killAny: "Kill process",
    reboot: "Reboot",
    shutdown: "Shut down",
    revokeAllow: "Revoke allow",
  } satisfies Record<AnswerEntry["labelKey"], string> & Record<string, unknown>,
  /** The second row after a tap on Allow: for how long. */
  allowFor: { "1h": "Allow 1 h", "24h": "Allow 24 h", always: "Allow always" },
  alert: {
    sshSession: (p: { user: string; ip: string; port: string; method: string }) =>
      `New SSH login: ${p.user} from ${p.ip} port ${p.port} (${p.method})`,
    sshBruteForce: (p: { count: string; window: string; ip: string; users: string }) =>
      `${p.count} failed SSH logins in ${p.window} from ${p.ip}${p.users ? ` — users tried: ${p.users}` : ""}`,
    cpuSustained: (p: { percent: string; duration: string; top: string }) =>
      `CPU at ${p.percent} % for ${p.duration}${p.top ? ` — top: ${p.top}` : ""}`,
    http404Burst: (p: { count: string; status: string; window: string; ip: string; paths: string }) =>
      `${p.count} HTTP ${p.status}s in ${p.window} from ${p.ip}${p.paths ? ` — last paths: ${p.paths}` : ""}`,
    httpLogFile: (p: { file: string }) => `log: ${p.file}`,
    agentOffline: (p: { server: string; since: string }) => `${p.server} offline since ${p.since}`,
    detectorBlind: (p: { server: string; detector: string; detail: string; since: string }) => `${p.detector} on ${p.server} sees nothing since ${p.since}: ${p.detail}`,
    alertsFolded: (p: { count: string; limit: string; kinds: string; first: string; last: string }) =>
      `${p.count} alerts folded (above ${p.limit} a minute) from ${p.first} to ${p.last}: ${p.kinds}; the server's logs have the details`,
    unknown: (p: { summary: string }) => p.summary || "Alert of a kind this controller does not know",
  } satisfies Record<KindTextKey, (p: never) => string> & Record<string, unknown>,
  lifecycle: {
    awaiting: "Waiting for an answer",
    noButtonsId: "No buttons: this alert's id cannot be carried in a button (too long, or a | in it); see /alerts",
    noAnswers: "No answer can be offered for this alert",
    withheld: (p: { answer: string; ip: string; reason: string }) => `${p.answer} not offered: ${p.ip} ${p.reason}`,
    blockRefusal: {
      not_an_address: "is not one IP address",
      unspecified: "is an unspecified address",
      loopback: "is a loopback address",
      link_local: "is a link-local address",
      multicast: "is a multicast address",
      broadcast: "is the broadcast address",
      agent_own: "is this server's own address",
      controller: "is the controller's address",
    },
    chosen: (p: { answer: string; by: string }) => `${p.answer} chosen by ${p.by}`,
    appliedByPolicy: (p: { answer: string; after: string }) => `${p.answer} applied automatically by policy after ${p.after}`,
    sent: "sent to the server, waiting for its result",
    queued: "queued: server offline, will run when it reconnects",
    done: (p: { detail: string }) => `done: ${p.detail}`,
    failed: (p: { detail: string }) => `failed: ${p.detail}`,
    refused: (p: { detail: string }) => `refused: ${p.detail}`,
    /** A line under /blocks or /allows after a tap: what was asked, of which address on which server, and where it stands. */
    listLine: (p: { answer: string; ip: string; server: string; result: string }) => `${p.answer} ${p.ip} on ${p.server}: ${p.result}`,
    dryRun: "dry run: nothing was changed",
    escalated: (p: { from: string; to: string }) => `escalated: ${p.from} → ${p.to}`,
    resolved: "resolved: the condition ended",
    expired: "expired: answers no longer offered",
    backOnline: (p: { server: string; at: string; offline: string }) => `${p.server} back online at ${p.at}, offline ${p.offline}`,
    sourceFound: (p: { detector: string; at: string; source: string; blind: string }) => `${p.detector} sees its source again at ${p.at} (${p.source}), blind ${p.blind}`,
  },
  confirm: {
    reboot: "Confirm reboot?",
    shutdown: "Confirm shut down?",
    cancel: "Cancel",
  },
  notice: {
    notAllowed: "You are not allowed to do this.",
    chatNotConfigured: "This chat is not configured for SecARC; nothing was done.",
    /** /start from someone not on the allow-list (or in a chat not configured): who they are and how to be added. */
    startStranger: (p: { userId: string; chatId: string }) =>
      `This SecARC bot answers only its operators. Your Telegram user id is ${p.userId} (this chat: ${p.chatId}). ` +
      "To be added, ask an operator to put it in telegram.allowedUsers (and the chat in telegram.chats) of the controller's config and to run: systemctl reload secarc-controller",
    /** /start from an allowed user, before the /help text. */
    welcome: "Welcome to SecARC. Alerts from your servers appear here, each with one button per answer.",
    invalidButton: "This button is not valid.",
    unknownAlert: "This alert is not known (any more).",
    alreadyAnswered: (p: { answer: string; by: string }) => `Already answered: ${p.answer} chosen by ${p.by}.`,
    resolved: "This alert is resolved; nothing to answer.",
    expired: "This alert has expired; answers are no longer offered.",
    unsupported: "This server cannot carry out that answer.",
    sent: (p: { answer: string; server: string }) => `${p.answer}: sent to ${p.server}.`,
    queued: (p: { answer: string; server: string }) => `${p.answer}: queued, ${p.server} is offline.`,
    confirmFirst: "Tap again to confirm.",
    chooseAllowDuration: "Allow for how long? Alerts about the address are muted meanwhile.",
    confirmExpired: "Confirmation expired; tap the answer again.",
    cancelled: "Cancelled.",
    failed: "Something went wrong; nothing was changed.",
  },
  command: {
    description: {
      status: "Servers and whether they are online",
      alerts: "Open alerts",
      blocks: "Active IP blocks, with Unblock buttons",
      allows: "Allowed addresses (alerts muted), with Revoke buttons",
      help: "What this bot does",
    },
    help:
      "SecARC shows security alerts from your servers here. Tap a button under an alert to answer it.\n" +
      "/status — servers and whether they are online\n/alerts — open alerts\n/blocks — active IP blocks\n/allows — allowed addresses, alerts muted\n/help — this text",
    statusHeader: (p: { count: string }) => `Servers (${p.count}):`,
    statusLine: (p: { server: string; state: string; lastSeen: string }) => `${p.server}: ${p.state}, last seen ${p.lastSeen}`,
    online: "online",
    offline: "offline",
    revoked: "revoked (certificate in the CRL)",
    sourceLine: (p: { detector: string; state: string; detail: string }) => `${p.detector}: ${p.state}${p.detail ? ` ${p.detail}` : ""}`,
    unavailableLine: (p: { answers: string; reason: string }) => `not offered: ${p.answers} (${p.reason})`,
    /** /status, the host line: "kernel 6.1.0", "up 3 d 4 h". */
    hostWords: { kernel: "kernel", up: "up" },
    sourceState: { following: "following", waiting: "waiting:", noSource: "no source:", unreadable: "unreadable:", unknown: "unknown:" },
    noServers: "No server has connected yet.",
    alertsHeader: (p: { count: string }) => `Open alerts (${p.count}):`,
    noAlerts: "No open alerts.",
    blocksHeader: (p: { count: string }) => `Active blocks (${p.count}):`,
    blockLine: (p: { ip: string; server: string; until: string }) => `${p.ip} on ${p.server}, until ${p.until}`,
    untilUnblocked: "unblocked",
    noBlocks: "No active blocks.",
    unblockButton: (p: { ip: string; server: string }) => `Unblock ${p.ip} (${p.server})`,
    allowsHeader: (p: { count: string }) => `Active allows (${p.count}), alerts about them muted:`,
    allowLine: (p: { ip: string; left: string; until: string; by: string }) => `${p.ip} — ${p.left} left (until ${p.until}), by ${p.by}`,
    allowUntilRevoked: (p: { ip: string; by: string }) => `${p.ip} — until revoked, by ${p.by}`,
    noAllows: "No active allows.",
    revokeButton: (p: { ip: string; server: string }) => `Revoke ${p.ip} (${p.server})`,
    openButton: (p: { n: string }) => `Show #${p.n}`,
    moreButton: "More ➡️",
  },
  digest: (p: { count: string; server: string; parts: string }) => `${p.count} new alerts from ${p.server}: ${p.parts} — /alerts`,
  /** The message of a test alert (secarc test-alert); no buttons. */
  testAlert: (p: { server: string }) => `🧪 Test alert from ${p.server} via secarc test-alert — delivery works.`,
  /** /status lines about Telegram sends. */
  sendHealth: {
    failing: (p: { since: string; error: string }) => `⚠️ Telegram sends failing since ${p.since} (last error: ${p.error})`,
    failed: (p: { since: string; until: string; error: string }) => `Telegram sends failed from ${p.since} to ${p.until} (last error: ${p.error})`,
    parked: (p: { chat: string; since: string; error: string }) => `⏸ Messages to chat ${p.chat} wait since ${p.since} (${p.error}); they go out after /start there or a successful retry`,
  },
  truncated: "… (truncated)",
  /** Under an alert sent again because an earlier send got no answer (in flight when the controller stopped, or given up at its deadline). */
  sentAgain: "↻ Sent again: an earlier send got no answer, so a copy of this alert may be just above.",
  silence: silenceEn,
  fleet: fleetEn,
};
