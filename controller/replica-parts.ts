import { replicaTimings } from "./config.js";
import type { ControllerCore } from "./controller-parts.js";
import { startReplicaCoordination, type ReplicaCoordination } from "./replicas/replica-coordination.js";
import { startWebhookInbox } from "./replicas/webhook-inbox.js";

/**
 * On PostgreSQL the controller is one of possibly several replicas: it
 * starts what they share (controller/replicas/: agent sessions with their
 * fence, actions routed to the replica holding the agent, heartbeats and
 * failover, the Telegram lease, the event relay) before the link, so the
 * first stream can claim its agent; it stops after the link. Their
 * timings come from the config's `replicas` section. On SQLite there is
 * one controller and nothing to start.
 */
export async function startReplicas(core: ControllerCore): Promise<ReplicaCoordination | undefined> {
  if (core.opened.kind !== "postgres") return undefined;
  const { events } = core;
  const timings = replicaTimings(core.config);
  const coordination = await startReplicaCoordination({
    store: core.opened.store,
    logger: core.logger.child({ component: "replicas" }),
    now: core.now,
    heartbeatEveryMs: timings.heartbeatEvery,
    deadAfterMs: timings.deadAfter,
    telegramLeaseTtlMs: timings.telegramLeaseTtl,
    actionSweepEveryMs: timings.actionSweepEvery,
    events,
    onActionSent: (action) => events.publish({ type: "action", actionId: action.actionId, alertId: action.alertId, agentId: action.agentId }),
    onFailover: (_replicas, agentIds) => {
      for (const agentId of agentIds) events.publish({ type: "agent", agentId, online: false });
    },
  });
  core.stops.push(() => coordination.stop());
  core.logger.info({ component: "replicas", replicaId: coordination.replicaId, ...timings }, "replica timings (config section replicas)");
  // Telegram posts to any replica: each stores the update for the voice (webhook-inbox.ts).
  const webhook = core.config.telegram?.webhook;
  if (webhook && (core.options.startTelegram ?? true)) {
    const inbox = await startWebhookInbox({ sql: core.opened.store.sql, logger: core.logger, replicaId: coordination.replicaId, webhook });
    core.stops.push(() => inbox.stop());
  }
  return coordination;
}
