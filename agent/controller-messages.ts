import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import type { Logger } from "../common/log.js";
import type { ActionExecutor } from "./journal/action-executor.js";
import type { Outbox } from "./outbox/outbox.js";
import type { OutboxWriter } from "./outbox/outbox-writer.js";
import type { RejectHandler } from "./outbox/rejects.js";

export interface ControllerMessageDeps {
  outbox: Outbox;
  writer: OutboxWriter;
  rejects: RejectHandler;
  executor: ActionExecutor;
  logger: Logger;
}

/** Where each controller message after Welcome goes: acks to the outbox, rejects to the dead letter, actions to the executor. */
export function createControllerMessageHandler(deps: ControllerMessageDeps): (message: ControllerMessage) => void {
  const { outbox, writer, rejects, executor, logger } = deps;
  return (message) => {
    switch (message.payload.case) {
      case "alertAck":
        outbox.ackAlert(message.payload.value.alertId, message.payload.value.revision);
        writer.acked(message.payload.value.alertId, message.payload.value.revision);
        return;
      case "alertReject":
        rejects.alert(message.payload.value);
        return;
      case "resultReject":
        rejects.result(message.payload.value);
        return;
      case "responseAction":
        void executor.handle(message.payload.value).catch((err) => logger.error({ err }, "action handling failed"));
        return;
      case "resultAck":
        executor.acknowledged(message.payload.value.actionId);
        return;
      default:
        logger.warn({ payload: message.payload.case }, "unexpected controller message; ignored");
    }
  };
}
