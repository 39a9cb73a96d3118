import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { ControllerEvent, EventBus } from "../domain/events.js";
import type { ActionRecord, Store } from "../store/store.js";
import { Priority, type TelegramOperations } from "../store/telegram-store.js";
import type { Bookkeeping } from "./bridge-bookkeeping.js";
import { trackAddressAction, type ListResults } from "./list-results.js";
import type { RouteScope } from "./route-scope.js";

export interface BridgeEventsDeps {
  store: Store;
  events: EventBus;
  routes: RouteScope;
  lists: ListResults;
  later: Bookkeeping["later"];
  logger: Logger;
  now: () => number;
  /** Queues the alert's messages again (bridge.ts), inside the bookkeeping transaction `ops`. */
  refreshAlert(alertId: string, priority: number, alsoChat: number | undefined, ops: TelegramOperations): Promise<void>;
}

/**
 * The controller's events as the bridge follows them: each reads from the
 * store what its bookkeeping needs (the alert, remembered for routing; the
 * action; the agent's unfinished actions), then defers that bookkeeping to
 * the end of the turn, batched in one transaction. The change is already
 * durable in the store, and a start re-renders anything whose version is
 * newer than what Telegram shows. Returns the unsubscribe.
 */
export function followControllerEvents(deps: BridgeEventsDeps): () => void {
  const { store, routes, lists, logger, now, refreshAlert } = deps;

  async function readThen(event: ControllerEvent, read: () => Promise<readonly ActionRecord[]>, soon = false): Promise<void> {
    try {
      const actions = await read();
      deps.later((tx) => onEvent(tx, event, actions), soon);
    } catch (err) {
      logger.error({ err: describeError(err), event: event.type }, "telegram: could not queue an update");
    }
  }

  async function onEvent(tx: TelegramOperations, event: ControllerEvent, actions: readonly ActionRecord[]): Promise<void> {
    try {
      switch (event.type) {
        case "alert":
          await refreshAlert(event.alertId, event.outcome === "inserted" ? Priority.fresh : Priority.update, undefined, tx);
          break;
        case "action": {
          await trackAddressAction(tx, actions[0], now());
          await lists.changed(event.actionId, now(), tx);
          if (event.alertId) await refreshAlert(event.alertId, Priority.update, undefined, tx);
          break;
        }
        case "agent":
          // Its queued actions went out (or wait again): their alert messages and list lines show it.
          for (const action of actions) {
            if (action.alertId) await refreshAlert(action.alertId, Priority.update, undefined, tx);
            else await lists.changed(action.actionId, now(), tx);
          }
          break;
      }
    } catch (err) {
      logger.error({ err: describeError(err), event: event.type }, "telegram: could not queue an update");
    }
  }

  return deps.events.subscribe((event) => {
    if (event.type === "alert") {
      const remember = (record: Awaited<ReturnType<Store["getAlert"]>>) => {
        if (record) routes.remember(record);
        return [];
      };
      void readThen(event, () => store.getAlert(event.alertId).then(remember), true);
    } else if (event.type === "action") void readThen(event, () => store.getAction(event.actionId).then((action) => (action ? [action] : [])));
    else if (event.type === "agent") void readThen(event, () => store.listUnfinishedActions(event.agentId));
  });
}
