import { create } from "@bufbuild/protobuf";
import type { Composer, Context } from "telegraf";
import { ActionTargetSchema, Answer } from "../../gen/secarc/v1/action_pb.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import { noticeFor, onTap, operatorOf, type Tap } from "./callback-tap.js";

/**
 * The buttons of the /blocks and /allows lists: Unblock sends UNBLOCK_IP
 * for a done BLOCK_IP, Revoke sends REVOKE_ALLOW for a done ALLOW, for its
 * address on its server; the list message then follows the action to its
 * end (list-results.ts).
 */
export function createListCallbacks(services: BridgeServices): Composer<Context> {
  return onTap(services, ["unblock", "revoke"], (command, tap) =>
    command.type === "unblock" ? undo(services, command.actionId, tap, Answer.BLOCK_IP, Answer.UNBLOCK_IP) : undo(services, command.actionId, tap, Answer.ALLOW, Answer.REVOKE_ALLOW),
  );
}

async function undo(services: BridgeServices, actionId: string, tap: Tap, done: Answer, undoing: Answer): Promise<string> {
  const { t } = tap;
  const original = await services.store.getAction(actionId);
  const ip = original?.target?.target.case === "ip" ? original.target.target.value : undefined;
  if (!original || original.answer !== done || original.state !== "done" || !ip) return t.notice.invalidButton;
  const outcome = await services.actions.request({
    agentId: original.agentId,
    alertId: undefined,
    answer: undoing,
    operator: operatorOf(tap.from),
    target: create(ActionTargetSchema, { target: { case: "ip", value: ip } }),
  });
  services.later(async (tx) => {
    // Unblocks are tracked as blocks are, for /blocks.
    if (outcome.ok && undoing === Answer.UNBLOCK_IP) await tx.trackAction({ actionId: outcome.action.actionId, agentId: original.agentId, answer: undoing, ip, createdAt: services.now() });
    // The list message shows the action's line now, and its result when it comes.
    if (outcome.ok && tap.list) await services.lists.tapped(tap.list, outcome.action.actionId, services.now(), tx);
    services.audit(telegramActor(tap.from), "telegram.answer", `${Answer[undoing]} ${ip} on ${original.agentId}: ${outcome.ok ? "accepted" : outcome.reason}`);
  });
  return noticeFor(outcome, undoing, original.agentId, t);
}
