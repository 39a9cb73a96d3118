import { describeError } from "../../common/errors.js";
import { SECARC_VERSION } from "../../common/version.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { describeHostFacts, type HostFactsRecord } from "../host/host-facts.js";
import { describeSkew, isSkewed } from "../link/clock-skew.js";
import type { StoreHealthView } from "../store/store-health.js";
import type { Store } from "../store/store.js";
import type { TelegramBridge } from "../telegram/bridge.js";

/** The controller's state as `secarc status` shows it (the JSON of `--json`). */
export interface StatusReport {
  /** False when any problem is listed; `secarc status` then exits 1. */
  ok: boolean;
  /** One line per thing that is wrong, for operators and monitoring. */
  problems: string[];
  controller: { version: string; pid: number; startedAt: string; uptimeSeconds: number };
  agents: AgentStatus[];
  telegram: TelegramStatus;
  store: { path: string; ok: boolean; state: StoreHealthView["state"] | "unreadable"; detail: string; freeBytes: number | undefined; openAlerts: number | undefined };
  queues: { telegram: number | undefined; unfinishedActions: number | undefined };
}

export interface AgentStatus {
  agentId: string;
  hostname: string;
  version: string;
  online: boolean;
  lastSeen: string;
  revoked: boolean;
  /** The answers it advertised in its last Hello. */
  answers: string[];
  /** Its clock minus the controller's, in ms, as last measured (Hello, heartbeats); undefined before any measure. */
  clockSkewMs: number | undefined;
  /** The answers it does not offer on its host, and why. */
  unavailableAnswers: Array<{ answer: string; reason: string }>;
  /** Its host as its last Hello described it (boot time in ISO 8601, `summary` in one line); undefined when it sent none. */
  host: HostStatus | undefined;
}

export type HostStatus = Omit<HostFactsRecord, "bootedAt"> & { bootedAt: string | undefined; summary: string };

export interface TelegramStatus {
  configured: boolean;
  /** "ok", "token_refused", "no_token", "unreachable", "connecting"; "not_configured", "standby" (another replica speaks) or "not_running" without a bridge. */
  state: string;
  detail: string;
  since: string | undefined;
  retryAt: string | undefined;
  commandsSet: boolean | undefined;
  /** Sends have failed, without a success, for longer than telegram.failureAlertAfter. */
  sendsFailing: boolean;
  lastError: string | undefined;
}

export interface StatusInputs {
  store: Store;
  onlineAgents: readonly string[];
  telegram: TelegramBridge | undefined;
  telegramConfigured: boolean;
  /** On PostgreSQL: true while another replica holds the Telegram lease, so this one's bridge waits. */
  telegramElsewhere?: boolean;
  storePath: string;
  /** Whether the store can be written, and its free space. */
  storeHealth: StoreHealthView;
  startedAt: number;
  now: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Builds the report; every part that fails to read is a problem in it, never an exception. */
export async function buildStatusReport(input: StatusInputs): Promise<StatusReport> {
  const problems: string[] = [];
  const online = new Set(input.onlineAgents);
  let agents: AgentStatus[] = [];
  let unfinishedActions: number | undefined;
  let openAlerts: number | undefined;
  let storeDetail = "readable";
  try {
    const records = await input.store.listAgents();
    agents = records.map((a) => ({
      agentId: a.agentId,
      hostname: a.hostname,
      version: a.version,
      online: online.has(a.agentId),
      lastSeen: a.lastSeen.toISOString(),
      revoked: a.revokedAt !== undefined,
      clockSkewMs: a.clockSkewMs,
      answers: a.actions.map((answer) => Answer[answer] ?? String(answer)),
      unavailableAnswers: a.unavailableAnswers.map((u) => ({ answer: Answer[u.answer] ?? String(u.answer), reason: u.reason })),
      host: a.hostFacts ? { ...a.hostFacts, bootedAt: iso(a.hostFacts.bootedAt?.getTime()), summary: describeHostFacts(a.hostFacts, input.now) } : undefined,
    }));
    unfinishedActions = 0;
    for (const a of records) unfinishedActions += (await input.store.listUnfinishedActions(a.agentId)).length;
    openAlerts = (await input.store.listOpenAlerts(100_000)).length;
  } catch (err) {
    storeDetail = `the store cannot be read: ${describeError(err)}`;
    problems.push(`store: ${storeDetail}`);
  }
  const health = input.storeHealth;
  if (health.state !== "ok") problems.push(`store: ${health.detail || health.state}`);
  for (const agent of agents) if (!agent.online && !agent.revoked) problems.push(`agent ${agent.agentId}: offline since ${agent.lastSeen}`);
  for (const agent of agents) {
    if (!agent.revoked && isSkewed(agent.clockSkewMs)) problems.push(`agent ${agent.agentId}: clock ${describeSkew(agent.clockSkewMs)} off the controller's (check NTP on its host)`);
  }

  const telegram = telegramStatus(input);
  // A replica on standby is as it should be: another one speaks.
  if (telegram.configured && telegram.state !== "ok" && telegram.state !== "standby") problems.push(telegram.detail || `telegram: ${telegram.state}`);
  else if (telegram.sendsFailing) problems.push(`telegram: sends failing: ${telegram.lastError ?? "unknown error"}`);

  return {
    ok: problems.length === 0,
    problems,
    controller: { version: SECARC_VERSION, pid: process.pid, startedAt: new Date(input.startedAt).toISOString(), uptimeSeconds: Math.round((input.now - input.startedAt) / 1000) },
    agents,
    telegram,
    store: {
      path: input.storePath,
      ok: !storeDetail.startsWith("the store cannot") && health.state === "ok",
      state: storeDetail.startsWith("the store cannot") ? "unreadable" : health.state,
      detail: health.state !== "ok" ? health.detail : storeDetail,
      freeBytes: health.freeBytes,
      openAlerts,
    },
    queues: { telegram: await input.telegram?.queueDepth(), unfinishedActions },
  };
}

function telegramStatus(input: StatusInputs): TelegramStatus {
  const bridge = input.telegram;
  if (!bridge) {
    const state = !input.telegramConfigured ? "not_configured" : input.telegramElsewhere ? "standby" : "not_running";
    const detail = { not_configured: "", standby: "telegram: another replica holds the Telegram lease and speaks; this one takes over if it goes", not_running: "telegram: the bridge is not running" }[state];
    return { configured: input.telegramConfigured, state, detail, since: undefined, retryAt: undefined, commandsSet: undefined, sendsFailing: false, lastError: undefined };
  }
  const connection = bridge.connection();
  const health = bridge.sendHealth();
  return {
    configured: true,
    state: connection.state,
    detail: connection.detail,
    since: iso(connection.since),
    retryAt: iso(connection.retryAt),
    commandsSet: connection.commandsSet,
    sendsFailing: health.failing,
    lastError: health.lastError,
  };
}
