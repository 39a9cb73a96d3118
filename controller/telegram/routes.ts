import { z } from "zod";
import { labelsSchema } from "../../common/labels.js";
import { Severity, type AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { silenceKindNames, type SilenceKindName } from "../domain/silences.js";

/**
 * Routes: which chats (and forum topics) an alert goes to, like
 * Alertmanager's. Routes are tried in order; the first that matches takes
 * the alert, unless it says `continue: true`, in which case the next ones
 * are tried too. An alert no route takes goes to every configured chat.
 * Pure: the bridge and the commands ask it.
 */

const severityNames = { info: Severity.INFO, warning: Severity.WARNING, critical: Severity.CRITICAL } as const;
const kindEnum = z.enum(Object.keys(silenceKindNames) as [SilenceKindName, ...SilenceKindName[]]);
const telegramId = z.union([z.number().int(), z.string().regex(/^-?\d{1,20}$/)]).transform((value) => Number(value));

/** What a route matches; all conditions hold. Default: every alert. */
export const routeMatchSchema = z.strictObject({
  /** Servers (agent ids). Default: any. */
  agents: z.array(z.string().min(1).max(128)).default([]),
  /** Labels the server must carry, each with this value. Default: none. */
  labels: labelsSchema().default({}),
  /** Alert kinds (ssh_session, ssh_brute_force, cpu_sustained, http_404_burst, agent_offline, detector_blind). Default: any. */
  kinds: z.array(kindEnum).default([]),
  /** The least severity: info, warning or critical. Default: info (any). */
  minSeverity: z.enum(["info", "warning", "critical"]).default("info"),
});

/** One route. */
export const routeSchema = z.strictObject({
  /** Which alerts it takes. Default: every alert. */
  match: routeMatchSchema.default({ agents: [], labels: {}, kinds: [], minSeverity: "info" }),
  /** Chats it sends them to; each must be in telegram.chats. Required, at least one. */
  chats: z.array(telegramId).min(1),
  /** A forum topic (message_thread_id) in those chats. Default: the chats' main thread. */
  thread: z.number().int().min(1).optional(),
  /** Try the next routes too after this one matched. Default: false (first match wins). */
  continue: z.boolean().default(false),
});

export type RouteConfig = z.output<typeof routeSchema>;

/** Where one copy of an alert goes. */
export interface RouteTarget {
  chatId: number;
  threadId: number | undefined;
}

/** What routing looks at in an alert. */
export interface RouteSubject {
  agentId: string;
  labels: Readonly<Record<string, string>>;
  kind: AlertKind;
  severity: Severity;
}

function matches(route: RouteConfig, subject: RouteSubject): boolean {
  const m = route.match;
  if (m.agents.length > 0 && !m.agents.includes(subject.agentId)) return false;
  if (m.kinds.length > 0 && !m.kinds.some((name) => silenceKindNames[name] === subject.kind)) return false;
  if (subject.severity < severityNames[m.minSeverity]) return false;
  return Object.entries(m.labels).every(([key, value]) => subject.labels[key] === value);
}

/**
 * The chats (each once, with the topic of the first route that named it) an
 * alert goes to; every chat in `allChats` when no route takes it.
 */
export function routeAlert(routes: readonly RouteConfig[], subject: RouteSubject, allChats: readonly number[]): RouteTarget[] {
  const targets = new Map<number, RouteTarget>();
  let matched = false;
  for (const route of routes) {
    if (!matches(route, subject)) continue;
    matched = true;
    for (const chatId of route.chats) if (!targets.has(chatId)) targets.set(chatId, { chatId, threadId: route.thread });
    if (!route.continue) break;
  }
  if (!matched) return allChats.map((chatId) => ({ chatId, threadId: undefined }));
  return [...targets.values()];
}

/**
 * Whether a chat may see a server's alerts at all (for /status, /alerts,
 * /blocks in that chat): a route naming the chat matches the server whatever
 * the kind and severity, or the chat gets the alerts no route takes.
 */
export function chatCoversAgent(routes: readonly RouteConfig[], chatId: number, agent: { agentId: string; labels: Readonly<Record<string, string>> }): boolean {
  if (routes.length === 0) return true;
  const named = routes.filter((route) => route.chats.includes(chatId));
  const byServer = (route: RouteConfig) =>
    (route.match.agents.length === 0 || route.match.agents.includes(agent.agentId)) && Object.entries(route.match.labels).every(([k, v]) => agent.labels[k] === v);
  if (named.some(byServer)) return true;
  // Unmatched alerts go to every chat: a server that some kind or severity of leaves unrouted is covered everywhere.
  return !routes.some((route) => byServer(route) && route.match.kinds.length === 0 && route.match.minSeverity === "info" && !route.continue);
}

/** The check across keys: every chat a route names must be configured. */
export function checkRoutes(config: { chats: ReadonlyArray<{ id: number }>; routes: readonly RouteConfig[] }, ctx: z.RefinementCtx): void {
  const configured = new Set(config.chats.map((chat) => chat.id));
  config.routes.forEach((route, index) => {
    route.chats.forEach((chatId, at) => {
      if (!configured.has(chatId)) ctx.addIssue({ code: "custom", path: ["routes", index, "chats", at], message: `chat ${chatId} is not in telegram.chats` });
    });
  });
}
