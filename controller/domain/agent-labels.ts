import type { Store } from "../store/store.js";
import type { EventBus } from "./events.js";

/**
 * Each agent's labels as its last stored Hello carried them, kept in memory
 * for the views that route and silence by label synchronously (the Telegram
 * routes, silences' matchers). Loaded from the store once; every connect's
 * "agent" event carries the labels it stored, before any alert of that
 * stream is published, so a lookup is never older than the alert it routes.
 */
export interface AgentLabels {
  labelsOf(agentId: string): Readonly<Record<string, string>>;
  /** Reads every stored agent's labels (a connect's event meanwhile wins). */
  load(store: Pick<Store, "listAgents">): Promise<void>;
  stop(): void;
}

const NONE: Readonly<Record<string, string>> = Object.freeze({});

/** Listens from now on; `load` fills in the agents stored before. */
export function createAgentLabels(events: EventBus): AgentLabels {
  const labels = new Map<string, Readonly<Record<string, string>>>();
  const unsubscribe = events.subscribe((event) => {
    if (event.type === "agent" && event.labels) labels.set(event.agentId, event.labels);
  });
  return {
    labelsOf: (agentId) => labels.get(agentId) ?? NONE,
    async load(store) {
      for (const agent of await store.listAgents()) if (!labels.has(agent.agentId)) labels.set(agent.agentId, agent.labels);
    },
    stop: unsubscribe,
  };
}
