import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ControllerEvent, EventBus } from "../domain/events.js";
import type { PgSql } from "../store/postgres-types.js";

/**
 * The controller's events (domain/events.ts) across replicas: an alert
 * stored on replica A must be shown by the Telegram voice on replica B. The
 * relay forwards the local events views care about through NOTIFY on
 * `secarc_events` and publishes the other replicas' on the local bus, so
 * the bridge, presence and metrics react as if the change were local.
 * Events only say what to look at (views read the store), so one lost on
 * the way costs freshness, not truth: after every re-LISTEN `onResync` runs
 * (the bridge re-reads what is stale, as at start).
 *
 * Events of one turn of the event loop go in one NOTIFY (up to ~7,000 bytes
 * each): a flood of alerts costs a few NOTIFYs, not one per alert.
 */
export interface EventRelayOptions {
  sql: PgSql;
  events: EventBus;
  logger: Logger;
  replicaId: string;
  /** After every (re-)LISTEN, when events may have been missed. */
  onResync?: () => void;
}

export interface EventRelay {
  /** Sends what is queued now (the relay does it on the next turn by itself). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export const EVENTS_CHANNEL = "secarc_events";
/** Below PostgreSQL's 8,000-byte NOTIFY payload limit, with room for the envelope. */
const MAX_PAYLOAD = 7_000;
/** What other replicas' views need; "rejected" is the receiving replica's own log. */
const RELAYED = new Set<ControllerEvent["type"]>(["alert", "action", "agent", "sources"]);

interface Envelope {
  from: string;
  events: ControllerEvent[];
}

export async function startEventRelay(options: EventRelayOptions): Promise<EventRelay> {
  const { sql, events, logger, replicaId } = options;
  const log = logger.child({ replicaId });
  let queue: ControllerEvent[] = [];
  let scheduled: Promise<void> | undefined;
  let sending = Promise.resolve();

  async function send(batch: ControllerEvent[]): Promise<void> {
    let chunk: string[] = [];
    let size = 0;
    const out = async () => {
      if (chunk.length === 0) return;
      const payload = `{"from":${JSON.stringify(replicaId)},"events":[${chunk.join(",")}]}`;
      chunk = [];
      size = 0;
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${payload})`;
    };
    for (const event of batch) {
      const text = JSON.stringify(event);
      if (text.length > MAX_PAYLOAD) continue; // an agent's labels far past their limits: views catch up at the next resync
      if (size + text.length + 1 > MAX_PAYLOAD) await out();
      chunk.push(text);
      size += text.length + 1;
    }
    await out();
  }

  const flush = (): Promise<void> => {
    const batch = queue;
    queue = [];
    scheduled = undefined;
    if (batch.length === 0) return sending;
    sending = sending.then(() => send(batch)).catch((err: unknown) => log.warn({ err: describeError(err), events: batch.length }, "could not relay events to the other replicas; their views catch up at the next resync"));
    return sending;
  };

  const unsubscribe = events.subscribe((event) => {
    if (event.relayedFrom !== undefined || !RELAYED.has(event.type)) return;
    queue.push(event);
    scheduled ??= new Promise<void>((resolve) => setImmediate(() => void flush().then(resolve)));
  });

  const listening = await sql.listen(
    EVENTS_CHANNEL,
    (payload) => {
      let envelope: Envelope;
      try {
        envelope = JSON.parse(payload) as Envelope;
      } catch {
        return;
      }
      if (envelope.from === replicaId || !Array.isArray(envelope.events)) return;
      for (const event of envelope.events) {
        if (!event || typeof event !== "object" || !RELAYED.has(event.type)) continue;
        events.publish({ ...event, relayedFrom: envelope.from });
      }
    },
    () => options.onResync?.(),
  );

  return {
    flush,
    async stop() {
      unsubscribe();
      await flush();
      await listening.unlisten().catch(() => undefined);
    },
  };
}
