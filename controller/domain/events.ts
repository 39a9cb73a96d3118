/**
 * What the controller core tells its views (the Telegram bridge, metrics)
 * after a change is durably stored. Views read the current state from the
 * store; an event only says what to look at.
 */
export type ControllerEvent = (
  /** `kind` and `severity`, when the publisher has the alert at hand, spare the counters a read. */
  | { type: "alert"; alertId: string; agentId: string; outcome: "inserted" | "updated"; kind?: number; severity?: number }
  | { type: "action"; actionId: string; alertId: string | undefined; agentId: string }
  /** An agent connected (with the labels its Hello stored, and how many connects it has made) or its stream ended. */
  | { type: "agent"; agentId: string; online: boolean; labels?: Readonly<Record<string, string>>; connects?: number }
  /** An agent's detector sources (Hello / Heartbeat) are stored anew. */
  | { type: "sources"; agentId: string }
  /** An alert or result the link refused with an AlertReject / ResultReject (nothing was stored). */
  | { type: "rejected"; what: "alert" | "result"; agentId: string; reason: string }
) & {
  /** Set on an event another replica published (replicas/event-relay.ts): views react to it; counters count it where it happened. */
  relayedFrom?: string;
};

export type ControllerEventListener = (event: ControllerEvent) => void;

/** A small synchronous fan-out; a throwing listener does not stop the others. */
export interface EventBus {
  publish(event: ControllerEvent): void;
  subscribe(listener: ControllerEventListener): () => void;
}

export function createEventBus(onListenerError: (err: unknown) => void = () => {}): EventBus {
  const listeners = new Set<ControllerEventListener>();
  return {
    publish(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (err) {
          onListenerError(err);
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
