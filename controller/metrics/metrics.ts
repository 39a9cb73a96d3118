import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { Answer, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, Severity } from "../../gen/secarc/v1/alert_pb.js";
import type { ControllerEvent, EventBus } from "../domain/events.js";
import type { StoreHealthView } from "../store/store-health.js";
import type { Store } from "../store/store.js";

/** The controller's Prometheus metrics, on a registry of their own. */
export interface ControllerMetrics {
  readonly registry: Registry;
  /** For the Telegram bridge: how many sends and edits wait in its queue. */
  setTelegramQueueDepth(depth: number): void;
  /** For the Telegram bridge: how many chats are parked (Telegram refused the chat). */
  setTelegramParkedChats(parked: number): void;
  /** For the Telegram bridge: an HTTP 429 from the Bot API. */
  countTelegramRateLimited(): void;
  /** For the Telegram bridge: where secarc_telegram_failing and secarc_telegram_seconds_since_last_success read from. */
  watchTelegramSends(health: () => TelegramSendsView): void;
  /** For the Telegram bridge: where secarc_telegram_connection reads from (token refused, unreachable, ...). */
  watchTelegramConnection(connection: () => TelegramConnectionView): void;
  /** Resolves once the events published so far are counted (counting reads the store). */
  settled(): Promise<void>;
  /** Stops listening to controller events. */
  close(): void;
}

export interface MetricsDeps {
  events: EventBus;
  store: Pick<Store, "listAgents" | "getAgent" | "getAlert" | "getAction">;
  /** Also export Node's process metrics (memory, event loop lag). Default: true. */
  processMetrics?: boolean;
  /** The clock. Default: Date.now. */
  now?: () => number;
  /** The store's health (secarc_store_*). */
  storeHealth?: () => StoreHealthView;
  /** The link's admission of connections (secarc_link_*): opening now, refused since the start, the limit in force. */
  linkAdmission?: () => { opening: number; refused: number; limit: number };
  /** The link's TLS handshakes since the start: full ones, and ones that resumed an agent's session (secarc_link_tls_handshakes_total). */
  linkHandshakes?: () => { full: number; resumed: number };
}

/** The failure watch's state, as the metrics read it. */
export interface TelegramSendsView {
  failing: boolean;
  lastSuccessAt: number | undefined;
  /** Stands in for the last success before the first one. */
  watchingSince: number;
}

/** The bridge's link to the Bot API, as the metrics read it. */
export interface TelegramConnectionView {
  /** "ok", "token_refused", "no_token", "unreachable" or "connecting". */
  state: string;
  /** For operators, e.g. "telegram: token refused (401): check TELEGRAM_BOT_TOKEN"; empty when ok. */
  detail: string;
}

const label = (names: Record<string, string | number>, value: number, prefix: string): string =>
  (names[value] as string | undefined)?.toLowerCase() ?? `${prefix}_${value}`;

export function createControllerMetrics(deps: MetricsDeps): ControllerMetrics {
  const registry = new Registry();
  const now = deps.now ?? Date.now;
  if (deps.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "secarc_controller_" });

  new Gauge({
    name: "secarc_agents_connected",
    help: "Agents with a live stream.",
    registers: [registry],
    async collect() {
      this.set((await deps.store.listAgents()).filter((agent) => agent.online).length);
    },
  });
  new Gauge({
    name: "secarc_agents_known",
    help: "Agents that have ever connected.",
    registers: [registry],
    async collect() {
      this.set((await deps.store.listAgents()).length);
    },
  });
  const connects = new Counter({ name: "secarc_agent_connects_total", help: "Streams opened by agents (first connects and reconnects).", registers: [registry] });
  const reconnects = new Counter({
    name: "secarc_agent_reconnects_total",
    help: "Streams opened by agents that had connected before, by this or an earlier controller run (the store counts connects).",
    registers: [registry],
  });
  const disconnects = new Counter({ name: "secarc_agent_disconnects_total", help: "Agent streams that ended.", registers: [registry] });
  const alerts = new Counter({ name: "secarc_alerts_total", help: "New alerts stored, by kind and severity.", labelNames: ["kind", "severity"], registers: [registry] });
  const alertUpdates = new Counter({ name: "secarc_alert_revisions_total", help: "Later revisions of alerts stored (escalations, resolutions), by kind.", labelNames: ["kind"], registers: [registry] });
  const actions = new Counter({ name: "secarc_actions_total", help: "Actions that reached a final result, by answer and result.", labelNames: ["answer", "result"], registers: [registry] });
  const rejected = new Counter({
    name: "secarc_link_rejected_total",
    help: "Alerts and action results refused with an AlertReject / ResultReject (nothing stored; the stream went on), by what and reason.",
    labelNames: ["what", "reason"],
    registers: [registry],
  });
  const queueDepth = new Gauge({ name: "secarc_telegram_queue_depth", help: "Telegram sends and edits waiting in the queue.", registers: [registry] });
  const parkedChats = new Gauge({ name: "secarc_telegram_parked_chats", help: "Chats whose Telegram messages wait because Telegram refused the chat (bot blocked or removed, no rights).", registers: [registry] });
  const rateLimited = new Counter({ name: "secarc_telegram_rate_limited_total", help: "HTTP 429 answers from the Telegram Bot API.", registers: [registry] });
  let telegramSends: (() => TelegramSendsView) | undefined;
  new Gauge({
    name: "secarc_telegram_failing",
    help: "1 while Telegram Bot API calls have been failing, without a success, for longer than telegram.failureAlertAfter; else 0.",
    registers: [registry],
    collect() {
      this.set(telegramSends?.().failing ? 1 : 0);
    },
  });
  new Gauge({
    name: "secarc_telegram_seconds_since_last_success",
    help: "Seconds since a Telegram Bot API call last succeeded (since the bridge started, before the first success).",
    registers: [registry],
    collect() {
      const view = telegramSends?.();
      if (view) this.set(Math.max(0, (now() - (view.lastSuccessAt ?? view.watchingSince)) / 1000));
    },
  });

  if (deps.storeHealth) {
    const health = deps.storeHealth;
    new Gauge({
      name: "secarc_store_writable",
      help: "1 while the controller store accepts writes; 0 while they fail (disk full, I/O error, read-only): agents are not acked meanwhile.",
      registers: [registry],
      collect() {
        this.set(health().state === "failing" ? 0 : 1);
      },
    });
    new Gauge({
      name: "secarc_store_low_space",
      help: "1 while the store's file system has less than 50 MiB or 5 % free (or writes fail); else 0.",
      registers: [registry],
      collect() {
        this.set(health().state === "ok" ? 0 : 1);
      },
    });
    new Gauge({
      name: "secarc_store_free_bytes",
      help: "Free bytes on the file system of the controller store.",
      registers: [registry],
      collect() {
        const free = health().freeBytes;
        if (free !== undefined) this.set(free);
      },
    });
  }

  if (deps.linkAdmission) {
    const admission = deps.linkAdmission;
    new Gauge({
      name: "secarc_link_connections_opening",
      help: "Agent connections accepted and not yet welcomed (TLS handshake or Hello under way).",
      registers: [registry],
      collect() {
        this.set(admission().opening);
      },
    });
    new Gauge({
      name: "secarc_link_opening_limit",
      help: "How many connections may be opening at once now (it follows how fast Welcomes go out, up to link.maxOpeningConnections).",
      registers: [registry],
      collect() {
        this.set(admission().limit);
      },
    });
    new Counter({
      name: "secarc_link_connections_refused_total",
      help: "Connections closed before any TLS work because the opening limit was reached (their agents dial again after their backoff).",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(admission().refused);
      },
    });
  }

  if (deps.linkHandshakes) {
    const handshakes = deps.linkHandshakes;
    new Counter({
      name: "secarc_link_tls_handshakes_total",
      help: "Agent TLS handshakes completed; resumed=\"true\" for those that resumed a session (a ticket from this controller, or from one with the same tls.ticketKeyFile), without verifying the certificate chain again.",
      labelNames: ["resumed"],
      registers: [registry],
      collect() {
        const { full, resumed } = handshakes();
        this.reset();
        this.inc({ resumed: "false" }, full);
        this.inc({ resumed: "true" }, resumed);
      },
    });
  }

  let telegramConnection: (() => TelegramConnectionView) | undefined;
  new Gauge({
    name: "secarc_telegram_connection",
    help: "1 for the bridge's current state with the Bot API (state: ok, token_refused, no_token, unreachable, connecting; detail: what to fix).",
    labelNames: ["state", "detail"],
    registers: [registry],
    collect() {
      this.reset();
      const view = telegramConnection?.();
      if (view) this.set({ state: view.state, detail: view.detail }, 1);
    },
  });

  const counted = new Set<string>();
  /** Events are counted one after another, in the order published. */
  let counting: Promise<void> = Promise.resolve();
  const count = async (event: ControllerEvent): Promise<void> => {
    // Each replica counts what happened on it: summed over replicas, every change counts once.
    if (event.relayedFrom !== undefined) return;
    switch (event.type) {
      case "agent":
        if (!event.online) {
          disconnects.inc();
          return;
        }
        connects.inc();
        if ((event.connects ?? (await deps.store.getAgent(event.agentId))?.connects ?? 0) > 1) reconnects.inc();
        return;
      case "alert": {
        const alert = event.kind !== undefined && event.severity !== undefined ? { kind: event.kind, severity: event.severity } : (await deps.store.getAlert(event.alertId))?.alert;
        if (!alert) return;
        const kind = label(AlertKind, alert.kind, "kind");
        if (event.outcome === "inserted") alerts.inc({ kind, severity: label(Severity, alert.severity, "severity") });
        else alertUpdates.inc({ kind });
        return;
      }
      case "rejected":
        rejected.inc({ what: event.what, reason: event.reason });
        return;
      case "action": {
        const action = await deps.store.getAction(event.actionId);
        if (!action || action.resultStatus === undefined || counted.has(action.actionId)) return;
        counted.add(action.actionId);
        actions.inc({ answer: label(Answer, action.answer, "answer"), result: label(ResultStatus, action.resultStatus, "result") });
        return;
      }
    }
  };
  const unsubscribe = deps.events.subscribe((event) => {
    counting = counting.then(() => count(event)).catch(() => {
      // A store read that fails leaves this event uncounted; the next ones count.
    });
  });

  return {
    registry,
    setTelegramQueueDepth: (depth) => queueDepth.set(depth),
    countTelegramRateLimited: () => rateLimited.inc(),
    setTelegramParkedChats: (parked) => parkedChats.set(parked),
    watchTelegramSends: (health) => {
      telegramSends = health;
    },
    watchTelegramConnection: (connection) => {
      telegramConnection = connection;
    },
    settled: () => counting,
    close: unsubscribe,
  };
}
