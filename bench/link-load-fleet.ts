import type { SecureContext } from "node:tls";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createReconnectPlan, type ReconnectPlan } from "../agent/link/reconnect-plan.js";
import { agentLinkConfigSchema } from "../agent/config.js";
import { newId } from "../common/ids.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { openLoadAgent, type LoadAgent } from "./link-load-agent.js";

/** One load agent's state across its connections. */
export interface LoadSlot {
  name: string;
  context: SecureContext;
  agent: LoadAgent | undefined;
  welcomed: boolean;
  /** Where the next session dials and after how long (the agent's own reconnect-plan.ts); made by setEndpoints. */
  plan: ReconnectPlan | undefined;
  /** The controller port of the current session. */
  port: number;
  /** Ends a session that got no Welcome within the agent's link.connectTimeout. */
  welcomeTimer: NodeJS.Timeout | undefined;
  /** The reconnect waiting for its turn. */
  retry: NodeJS.Timeout | undefined;
  /** Alerts acked (each counted once, however often it was resent). */
  acks: number;
  /** Alerts sent and not yet acked, oldest first: resent after every Welcome, as the agent's outbox is. */
  outbox: Map<string, BenchAlert>;
  /** The newest TLS session ticket the controller gave this agent. */
  ticket: Buffer | undefined;
  /** Send times of alerts whose ack is awaited with a latency (sendPaced). */
  timed: Map<string, number>;
  latencies: number[] | undefined;
}

const CONNECTING_AT_ONCE = 200;
/** Each welcomed agent sends a Heartbeat every this many seconds (one timer for the fleet, a slice a second): below the bench controller's 30 s interval, as agents do. */
const HEARTBEAT_S = 15;
/** The agent's link defaults (backoffInitial, backoffMax, connectTimeout). */
const LINK_DEFAULTS = agentLinkConfigSchema.parse({});
/** A welcomed session that lasted this long resets the backoff (agent/link/link-client.ts's default). */
const HEALTHY_AFTER_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every `pollMs` until it holds; the ms it took. Throws after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs: number, pollMs = 5): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
  return Date.now() - start;
}

export type BenchAlert = ReturnType<typeof benchAlert>;

function benchAlert(now: number, j: number) {
  return {
    id: newId(now),
    revision: 1,
    kind: AlertKind.HTTP_404_BURST,
    severity: Severity.WARNING,
    state: AlertState.OPEN,
    detectedAt: timestampFromMs(now),
    answers: [Answer.IGNORE, Answer.BLOCK_IP],
    subject: { case: "httpErrors" as const, value: { clientIp: `198.51.100.${j % 250}`, status: 404, count: 25, recentPaths: ["/wp-login.php", "/.env"] } },
  };
}

/**
 * The load side of the link benchmarks: thousands of minimal agents in one
 * process that reconnect as agents do (agent/link/reconnect-plan.ts: each
 * walks the controller endpoints in an order of its own, moves to the next
 * one after a failure with full-jitter backoff and the agent's defaults,
 * gives up on a session without a Welcome after link.connectTimeout), keep
 * their unacked alerts in an outbox resent after every Welcome, and offer
 * their last TLS session ticket when they reconnect.
 */
export function createLoadFleet() {
  let addresses: string[] = [];
  let reconnect = false;
  let welcomed = 0;
  let rejects = 0;
  let resumed = 0;
  let failed = 0;
  let stopped = false;
  /** Welcomed sessions per controller port. */
  const onPort = new Map<number, number>();
  /** Why streams ended outside a controller restart, and how many. */
  const endReasons = new Map<string, number>();
  const all: LoadSlot[] = [];
  /** The id of every alert the fleet sent, in order. */
  const issued: string[] = [];
  // Without heartbeats the controller ends a stream silent for 3 intervals
  // (about 100 s): at 10,000 agents the first ones would be gone before the last connected.
  let tick = 0;
  const heartbeats = setInterval(() => {
    tick = (tick + 1) % HEARTBEAT_S;
    const sentAt = timestampFromMs(Date.now());
    for (let i = tick; i < all.length; i += HEARTBEAT_S) {
      const slot = all[i]!;
      if (slot.welcomed) slot.agent?.send({ payload: { case: "heartbeat", value: { sentAt, outboxDepth: slot.outbox.size } } });
    }
  }, 1_000);
  heartbeats.unref();

  const newPlan = () =>
    createReconnectPlan({ addresses, initialMs: LINK_DEFAULTS.backoffInitial, maxMs: LINK_DEFAULTS.backoffMax, healthyAfterMs: HEALTHY_AFTER_MS, now: Date.now, random: Math.random });
  const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));
  const count = (port: number, by: number) => onPort.set(port, (onPort.get(port) ?? 0) + by);

  const welcome = (slot: LoadSlot): void => {
    clearTimeout(slot.welcomeTimer);
    slot.welcomed = true;
    slot.plan!.welcomed();
    welcomed += 1;
    count(slot.port, 1);
    for (const alert of slot.outbox.values()) slot.agent!.send({ payload: { case: "alert", value: alert } });
  };

  const acked = (slot: LoadSlot, alertId: string): void => {
    if (!slot.outbox.delete(alertId)) return;
    slot.acks += 1;
    const sentAt = slot.timed.get(alertId);
    if (sentAt !== undefined) {
      slot.timed.delete(alertId);
      slot.latencies?.push(performance.now() - sentAt);
    }
  };

  /** A session ended (or was given up without a Welcome): count it, and dial the plan's next endpoint after its wait. */
  const ended = (slot: LoadSlot, reason: string, rebalance: boolean): void => {
    clearTimeout(slot.welcomeTimer);
    const wasWelcomed = slot.welcomed;
    if (wasWelcomed) {
      welcomed -= 1;
      count(slot.port, -1);
    } else failed += 1;
    slot.welcomed = false;
    slot.agent = undefined;
    if (!stopped && !(reconnect && wasWelcomed)) {
      const key = `${wasWelcomed ? "after" : "before"} its Welcome: ${reason}`;
      endReasons.set(key, (endReasons.get(key) ?? 0) + 1);
    }
    // Every ended stream is retried as agents do (an agent dropped mid-burst would lose the alerts it had not seen acked: the bench's count check says so).
    if (stopped) return;
    const next = slot.plan!.ended(rebalance && wasWelcomed);
    slot.retry = setTimeout(() => !stopped && !slot.agent && connect(slot), next.delayMs);
  };

  const connect = (slot: LoadSlot): void => {
    slot.plan ??= newPlan();
    slot.port = portOf(slot.plan.current());
    const agent = openLoadAgent({
      port: slot.port,
      secureContext: slot.context,
      name: slot.name,
      tlsSession: slot.ticket,
      onTlsSession: (ticket) => (slot.ticket = ticket),
      onSecure: (wasResumed) => {
        if (wasResumed) resumed += 1;
      },
      onMessage(message: ControllerMessage) {
        if (message.payload.case === "welcome" && !slot.welcomed) welcome(slot);
        else if (message.payload.case === "alertAck") acked(slot, message.payload.value.alertId);
        else if (message.payload.case === "alertReject") {
          rejects += 1;
          slot.outbox.delete(message.payload.value.alertId);
        }
      },
      onEnd: (reason, rebalance) => ended(slot, reason, rebalance),
    });
    slot.agent = agent;
    slot.welcomeTimer = setTimeout(() => {
      if (slot.agent !== agent || slot.welcomed) return;
      agent.close();
      ended(slot, `no Welcome within ${LINK_DEFAULTS.connectTimeout} ms`, false);
    }, LINK_DEFAULTS.connectTimeout);
    agent.send({ payload: { case: "hello", value: { agentId: slot.name, agentVersion: "bench", hostname: slot.name, actions: [Answer.BLOCK_IP] } } });
  };

  /** Puts an alert in the slot's outbox and sends it now when the slot is welcomed (else after its next Welcome). */
  const emit = (slot: LoadSlot, alert: BenchAlert): void => {
    slot.outbox.set(alert.id, alert);
    issued.push(alert.id);
    if (slot.welcomed) slot.agent?.send({ payload: { case: "alert", value: alert } });
  };

  return {
    slot(name: string, context: SecureContext): LoadSlot {
      const slot: LoadSlot = {
        name,
        context,
        agent: undefined,
        welcomed: false,
        plan: undefined,
        port: 0,
        welcomeTimer: undefined,
        retry: undefined,
        acks: 0,
        outbox: new Map(),
        ticket: undefined,
        timed: new Map(),
        latencies: undefined,
      };
      all.push(slot);
      return slot;
    },
    /** The controller endpoints (loopback ports); every slot draws its own order of them (its reconnect plan) now. */
    setEndpoints(ports: readonly number[]): void {
      addresses = ports.map((p) => `127.0.0.1:${p}`);
      for (const slot of all) slot.plan = newPlan();
    },
    /** One controller endpoint. */
    setPort(port: number): void {
      this.setEndpoints([port]);
    },
    setReconnect: (on: boolean) => (reconnect = on),
    welcomed: () => welcomed,
    /** Welcomed sessions on the controller listening on `port`. */
    welcomedOn: (port: number) => onPort.get(port) ?? 0,
    rejects: () => rejects,
    resumed: () => resumed,
    /** Connections that ended before their Welcome (each retried with backoff). */
    failed: () => failed,
    resetResumed: () => (resumed = 0),
    /** Streams ended outside a restart, by reason ("after its Welcome: grpc-status 14 ..."). */
    endReasons: () => [...endReasons].map(([reason, n]) => `${n} × ${reason}`),
    /** Alerts sent and not yet acked, over all slots. */
    unacked: () => all.reduce((n, slot) => n + slot.outbox.size, 0),
    /** The ids of every alert sent so far. */
    issuedIds: (): readonly string[] => issued,
    until,
    /** Connects every slot, `inFlight` (CONNECTING_AT_ONCE) handshakes in flight at a time; resolves when all are welcomed. */
    async connectAll(slots: LoadSlot[], timeoutMs: number, inFlight = CONNECTING_AT_ONCE): Promise<void> {
      const base = welcomed;
      const start = Date.now();
      for (let i = 0; i < slots.length; i += 1) {
        while (i - (welcomed - base) >= inFlight) {
          if (Date.now() - start > timeoutMs) throw new Error(`timed out connecting: ${welcomed - base} of ${i} started agents welcomed`);
          await sleep(2);
        }
        connect(slots[i]!);
      }
      await until(() => welcomed - base >= slots.length, `${slots.length} agents welcomed`, timeoutMs);
    },
    /** Sends `count` alerts back to back; the returned function says whether all are acked. */
    sendAlerts(slot: LoadSlot, count: number): () => boolean {
      const target = slot.acks + count;
      const now = Date.now();
      for (let j = 0; j < count; j += 1) emit(slot, benchAlert(now, j));
      return () => slot.acks >= target;
    },
    /** Sends `count` alerts one every `periodMs` (after `offsetMs`), recording each one's send→ack time in `latencies`. */
    async sendPaced(slot: LoadSlot, count: number, periodMs: number, offsetMs: number, latencies: number[]): Promise<void> {
      slot.latencies = latencies;
      const target = slot.acks + count;
      await sleep(offsetMs);
      for (let j = 0; j < count; j += 1) {
        const alert = benchAlert(Date.now(), j);
        slot.timed.set(alert.id, performance.now());
        emit(slot, alert);
        await sleep(periodMs);
      }
      await until(() => slot.acks >= target, `${slot.name}'s paced acks`, 60_000);
      slot.latencies = undefined;
    },
    closeAll(): void {
      stopped = true;
      clearInterval(heartbeats);
      for (const slot of all) {
        clearTimeout(slot.welcomeTimer);
        clearTimeout(slot.retry);
        slot.agent?.close();
      }
    },
  };
}
