import { Composer, type Context } from "telegraf";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { alertAddress } from "../domain/alert-kinds.js";
import { answerOptions } from "../domain/answers.js";
import { answerLabel } from "./alert-labels.js";
import { telegramActor, type BridgeServices } from "./bridge-services.js";
import type { CallbackCommand } from "./callback-data.js";
import { operatorOf, type Tap } from "./callback-tap.js";
import type { FleetTelegram } from "./fleet-telegram.js";
import { Priority } from "../store/telegram-store.js";
import { operatorName } from "./text-format.js";

type FleetCommand = Extract<CallbackCommand, { type: "blockEverywhere" | "unblockEverywhere" }>;

/**
 * "Block on all servers" under an alert and "Unblock everywhere" in
 * /blocks. The first creates one fleet block (fleet-blocks.ts: one BLOCK_IP
 * per agent that can block, the alert's own answering the alert) and the
 * summary message that follows it in the tapping chat; the second lifts it
 * on every agent that was sent it. Each tap's query is answered once.
 */
export function createFleetCallbacks(services: BridgeServices, fleet: FleetTelegram): Composer<Context> {
  const composer = new Composer<Context>();
  /** Alerts whose block on all servers is being created: a second tap meanwhile creates none. */
  const creating = new Set<string>();
  composer.on("callback_query", async (ctx, next) => {
    const { command, tap } = ctx.state as { command?: CallbackCommand; tap?: Tap };
    if (!tap || (command?.type !== "blockEverywhere" && command?.type !== "unblockEverywhere")) return next();
    let notice: string | undefined;
    try {
      notice = await handle(command, tap);
    } catch (err) {
      notice = tap.t.notice.failed;
      throw err;
    } finally {
      services.answerCallback(ctx.callbackQuery.id, notice);
    }
  });

  function handle(command: FleetCommand, tap: Tap): Promise<string> {
    return command.type === "blockEverywhere" ? blockEverywhere(command.alertId, tap) : unblockEverywhere(command.fleetId, tap);
  }

  async function blockEverywhere(alertId: string, tap: Tap): Promise<string> {
    const { t } = tap;
    const found = await services.renderer.view(alertId, tap.chatId);
    if (!found) return t.notice.unknownAlert;
    // A second tap (a double tap, a colleague's) while the first is under way or after it: one fleet block per alert.
    // (`creating` again after the look-up: a second tap may have started meanwhile.)
    if (creating.has(alertId) || (await fleet.answersAlert(alertId)) || creating.has(alertId)) return t.fleet.alreadyBlocked;
    const phase = found.view.phase;
    if (phase.type === "answered") return t.notice.alreadyAnswered({ answer: answerLabel(phase.outcome.answer, t, found.record.alert), by: operatorName(phase.outcome.operator) });
    if (phase.type === "resolved") return t.notice.resolved;
    if (phase.type === "expired") return t.notice.expired;
    const ip = alertAddress(found.record.alert);
    if (!found.view.fleetBlock || ip === undefined) return t.notice.unsupported;
    creating.add(alertId);
    try {
      const block = await fleet.blocks.block({
        ip,
        operator: operatorOf(tap.from),
        requestedBy: telegramActor(tap.from),
        options: answerOptions(Answer.BLOCK_IP, { blockDurationMs: services.config.defaultBlockDuration, powerDelayMs: services.config.powerDelay }),
        alertId,
        alertAgentId: found.record.agentId,
      });
      await fleet.follow(block.fleetId, tap.chatId, alertId);
      const status = await fleet.blocks.status(block.fleetId);
      const members = status?.members ?? [];
      services.later(async (tx) => {
        await tx.invalidate(alertId, tap.chatId);
        await services.refreshAlert(alertId, Priority.interactive, tap.chatId, tx);
        services.audit(telegramActor(tap.from), "telegram.answer", `block on all servers ${ip} (fleet block ${block.fleetId}) for alert ${alertId}: ${members.map((m) => `${m.agentId} ${m.state}`).join(", ")}`);
      });
      return t.fleet.blockNotice({ sent: members.filter((m) => m.state === "sent").length, queued: members.filter((m) => m.state === "queued").length });
    } finally {
      creating.delete(alertId);
    }
  }

  async function unblockEverywhere(fleetId: string, tap: Tap): Promise<string> {
    const { t } = tap;
    const block = (await fleet.blocks.status(fleetId))?.block;
    if (!block) return t.fleet.unknownFleet;
    if (!(await fleet.blocks.lift(fleetId, operatorOf(tap.from), telegramActor(tap.from)))) return t.fleet.alreadyLifted;
    await fleet.changed(fleetId);
    const lifting = ((await fleet.blocks.status(fleetId))?.members ?? []).filter((m) => m.state === "lifting" || m.state === "lifted");
    // The list message keeps its other buttons.
    if (tap.list) tap.showButtons(tap.list.keyboard.map((row) => row.filter((b) => b.callback_data !== tap.list!.tapped)).filter((row) => row.length > 0));
    services.later(async () => services.audit(telegramActor(tap.from), "telegram.answer", `unblock everywhere ${block.ip} (fleet block ${fleetId}): ${lifting.length} servers`));
    return t.fleet.unblockNotice({ servers: lifting.length });
  }

  return composer;
}
