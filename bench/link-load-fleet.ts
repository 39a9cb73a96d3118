import type { SecureContext } from "node:tls";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createBackoff, type Backoff } from "../agent/link/backoff.js";
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
  backoff: Backoff;
  acks: number;
  /** The newest TLS session ticket the controller gave this agent. */
  ticket: Buffer | undefined;
  /** Send times of alerts whose ack is awaited with a latency (sendPaced). */
  timed: Map<string, number>;
  latencies: number[] | undefined;
}

const CONNECTING_AT_ONCE = 200;
/** Each welcomed agent sends a Heartbeat every this many seconds (one timer for the fleet, a slice a second): below the bench controller's 30 s interval, as agents do. */
const HEARTBEAT_S = 15;
/** The agent's link defaults (backoffInitial, backoffMax). */
const LINK_DEFAULTS = agentLinkConfigSchema.parse({});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
 * The load side of the link benchmark: thousands of minimal agents in one
 * process, each reconnecting with backoff and full jitter (as agents do),
 * and offering its last TLS session ticket when it reconnects.
 */
export function createLoadFleet() {
  let port = 0;
  let reconnect = false;
  let welcomed = 0;
  let rejects = 0;
  let resumed = 0;
  let failed = 0;
  let stopped = false;
  /** Why streams ended outside a controller restart, and how many. */
  const endReasons = new Map<string, number>();
  const all: LoadSlot[] = [];
  // Without heartbeats the controller ends a stream silent for 3 intervals
  // (about 100 s): at 10,000 agents the first ones would be gone before the last connected.
  let tick = 0;
  const heartbeats = setInterval(() => {
    tick = (tick + 1) % HEARTBEAT_S;
    const sentAt = timestampFromMs(Date.now());
    for (let i = tick; i < all.length; i += HEARTBEAT_S) {
      const slot = all[i]!;
      if (slot.welcomed) slot.agent?.send({ payload: { case: "heartbeat", value: { sentAt, outboxDepth: 0 } } });
    }
  }, 1_000);
  heartbeats.unref();

  const connect = (slot: LoadSlot): void => {
    slot.agent = openLoadAgent({
      port,
      secureContext: slot.context,
      name: slot.name,
      tlsSession: slot.ticket,
      onTlsSession: (ticket) => (slot.ticket = ticket),
      onSecure: (wasResumed) => {
        if (wasResumed) resumed += 1;
      },
      onMessage(message: ControllerMessage) {
        if (message.payload.case === "welcome" && !slot.welcomed) {
          slot.welcomed = true;
          slot.backoff.reset();
          welcomed += 1;
        } else if (message.payload.case === "alertAck") {
          slot.acks += 1;
          const sentAt = slot.timed.get(message.payload.value.alertId);
          if (sentAt !== undefined) {
            slot.timed.delete(message.payload.value.alertId);
            slot.latencies?.push(performance.now() - sentAt);
          }
        } else if (message.payload.case === "alertReject") {
          rejects += 1;
        }
      },
      onEnd(reason) {
        const wasWelcomed = slot.welcomed;
        if (slot.welcomed) welcomed -= 1;
        else failed += 1;
        slot.welcomed = false;
        slot.agent = undefined;
        if (!stopped && !(reconnect && wasWelcomed)) {
          const key = `${wasWelcomed ? "after" : "before"} its Welcome: ${reason}`;
          endReasons.set(key, (endReasons.get(key) ?? 0) + 1);
        }
        // Every ended stream is retried as agents do (an agent dropped mid-burst would lose the alerts it had not seen acked: the bench's count check says so).
        if (stopped) return;
        // The agent's own backoff with full jitter and its default bounds.
        setTimeout(() => !stopped && !slot.agent && connect(slot), slot.backoff.next());
      },
    });
    slot.agent.send({ payload: { case: "hello", value: { agentId: slot.name, agentVersion: "bench", hostname: slot.name, actions: [Answer.BLOCK_IP] } } });
  };

  const until = async (condition: () => boolean, what: string, timeoutMs: number): Promise<void> => {
    const start = Date.now();
    while (!condition()) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await sleep(5);
    }
  };

  return {
    slot(name: string, context: SecureContext): LoadSlot {
      const backoff = createBackoff({ initialMs: LINK_DEFAULTS.backoffInitial, maxMs: LINK_DEFAULTS.backoffMax });
      const slot: LoadSlot = { name, context, agent: undefined, welcomed: false, backoff, acks: 0, ticket: undefined, timed: new Map(), latencies: undefined };
      all.push(slot);
      return slot;
    },
    setPort: (p: number) => (port = p),
    setReconnect: (on: boolean) => (reconnect = on),
    welcomed: () => welcomed,
    rejects: () => rejects,
    resumed: () => resumed,
    /** Connections that ended before their Welcome (each retried with backoff). */
    failed: () => failed,
    resetResumed: () => (resumed = 0),
    /** Streams ended outside a restart, by reason ("after its Welcome: grpc-status 14 ..."). */
    endReasons: () => [...endReasons].map(([reason, n]) => `${n} × ${reason}`),
    until,
    /** Connects every slot, CONNECTING_AT_ONCE handshakes in flight at a time; resolves when all are welcomed. */
    async connectAll(slots: LoadSlot[], timeoutMs: number): Promise<void> {
      const base = welcomed;
      const start = Date.now();
      for (let i = 0; i < slots.length; i += 1) {
        while (i - (welcomed - base) >= CONNECTING_AT_ONCE) {
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
      for (let j = 0; j < count; j += 1) slot.agent?.send({ payload: { case: "alert", value: benchAlert(now, j) } });
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
        slot.agent?.send({ payload: { case: "alert", value: alert } });
        await sleep(periodMs);
      }
      await until(() => slot.acks >= target, `${slot.name}'s paced acks`, 60_000);
      slot.latencies = undefined;
    },
    closeAll(): void {
      stopped = true;
      clearInterval(heartbeats);
      for (const slot of all) slot.agent?.close();
    },
  };
}
