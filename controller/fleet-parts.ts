import { describeError } from "../common/errors.js";
import type { ControllerCore } from "./controller-parts.js";
import { createFleetBlocks, type FleetBlocks } from "./domain/fleet-blocks.js";

/**
 * Blocks on all servers over the controller's store: an agent that comes
 * online gets every active fleet block it has no part in yet (its joins run
 * one after another, in the order agents connect), after the parts a stop
 * left claimed but unrequested have been requested.
 */
export function startFleetBlocks(core: ControllerCore): FleetBlocks {
  const { store, events, actions, now, logger } = core;
  const fleet = createFleetBlocks({ store, fleetStore: store.fleetBlocks, actions, now });
  const log = logger.child({ component: "fleet-blocks" });
  // First the parts a stop left claimed but not requested; joins wait for it.
  let joins = fleet.recover().catch((err: unknown) => log.error({ err: describeError(err) }, "could not recover the fleet blocks' unrequested parts"));
  const unsubscribe = events.subscribe((event) => {
    if (event.type !== "agent" || !event.online) return;
    joins = joins
      .then(() => fleet.agentConnected(event.agentId))
      .catch((err: unknown) => log.error({ err: describeError(err), agentId: event.agentId }, "could not give an agent the active fleet blocks"));
  });
  core.stops.push(async () => {
    unsubscribe();
    await joins;
  });
  return fleet;
}
