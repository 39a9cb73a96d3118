import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { newId } from "../../common/ids.js";
import { ActionOptionsSchema, ActionTargetSchema, Answer, OperatorSchema, ResultStatus, type ActionOptions, type Operator } from "../../gen/secarc/v1/action_pb.js";
import type { AgentRecord, Store } from "../store/store.js";
import type { ActionRequests } from "./action-requests.js";
import type { FleetBlock, FleetBlockStore, FleetMember } from "../store/fleet-block-store.js";

/** One server's state in a fleet block, as its message and /blocks show it. */
export type MemberState =
  | { state: "blocked" | "sent" | "queued" | "lifted" | "lifting" }
  /** The agent refused or failed; `detail` is its text (untrusted). */
  | { state: "refused"; detail: string }
  /** No BLOCK_IP was sent: opted out, cannot block, or the controller refused the target. */
  | { state: "skipped"; detail: string };

export interface FleetStatus {
  block: FleetBlock;
  /** By agent id; `actionId`: its BLOCK_IP, when it was sent one. */
  members: Array<{ agentId: string; hostname: string; actionId?: string } & MemberState>;
}

export interface FleetBlockRequest {
  ip: string;
  operator: Operator;
  /** As the audit names the operator. */
  requestedBy: string;
  options?: ActionOptions;
  /** The alert answered and its agent: that agent's BLOCK_IP answers it. */
  alertId?: string;
  alertAgentId?: string;
}

export interface FleetBlocks {
  /** Stores a fleet block, then one BLOCK_IP per agent that can block (sent now or on its next connect). */
  block(input: FleetBlockRequest): Promise<FleetBlock>;
  /** An agent connected: it gets every active fleet block it has no part in yet. */
  agentConnected(agentId: string): Promise<void>;
  /** Lifts a fleet block: UNBLOCK_IP to every agent that was sent its BLOCK_IP. False when already lifted. */
  lift(fleetId: string, operator: Operator, by: string): Promise<boolean>;
  status(fleetId: string): Promise<FleetStatus | undefined>;
  listActive(): Promise<FleetBlock[]>;
  /** The fleet block an action belongs to (its BLOCK_IP or UNBLOCK_IP), if any. */
  fleetOfAction(actionId: string): Promise<string | undefined>;
  /**
   * At start: every part claimed but not yet requested (the controller
   * stopped in between) gets its BLOCK_IP now — the one stored before the
   * stop if there is one (its id is the part's own), else a new request;
   * every part of a lifted fleet block still without its UNBLOCK_IP gets it
   * the same way.
   */
  recover(): Promise<void>;
}

/** The id of a fleet block part's action: the same for the same fleet block, server and answer, so a part found claimed after a crash finds its action. */
export function fleetActionId(fleetId: string, agentId: string, answer: Answer.BLOCK_IP | Answer.UNBLOCK_IP): string {
  const hex = createHash("sha256").update(`secarc fleet block\u0000${fleetId}\u0000${agentId}\u0000${answer}`).digest("hex");
  // A UUID (version 8, RFC 9562: custom) so that it fits a button's callback data as compactly as any action id.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface FleetBlocksDeps {
  store: Store;
  fleetStore: FleetBlockStore;
  actions: ActionRequests;
  now?: () => number;
  newId?: (now: number) => string;
}

/**
 * Blocks on all servers: each agent's part is claimed once in the fleet
 * store before its BLOCK_IP is requested, so an agent gets a fleet block at
 * most once however often it connects; the action itself has the usual
 * guarantees (stored before it is sent, resent on reconnect, first result
 * wins) and the agent's own policy (its address, an allow) may refuse it.
 */
export function createFleetBlocks(deps: FleetBlocksDeps): FleetBlocks {
  const { store, fleetStore, actions } = deps;
  const now = deps.now ?? Date.now;
  const makeId = deps.newId ?? newId;
  const unblockOf = new Map<string, string>();
  /** Fleet blocks in force: not lifted, not past their end. */
  const active = async (): Promise<FleetBlock[]> => (await fleetStore.listActiveFleetBlocks()).filter((b) => b.expiresAt === undefined || b.expiresAt > now());

  /** UNBLOCK_IP to every part that was sent the BLOCK_IP and has none yet (under the part's own id: one stored before a stop is taken up). */
  async function unblockParts(block: FleetBlock, operator: Operator): Promise<void> {
    const target = create(ActionTargetSchema, { target: { case: "ip", value: block.ip } });
    for (const member of await fleetStore.listMembers(block.fleetId)) {
      if (member.actionId === undefined || member.unblockActionId !== undefined) continue;
      const actionId = fleetActionId(block.fleetId, member.agentId, Answer.UNBLOCK_IP);
      const stored = await store.getAction(actionId);
      const outcome = stored ? { ok: true as const, action: stored } : await actions.request({ agentId: member.agentId, alertId: undefined, answer: Answer.UNBLOCK_IP, operator, target, actionId });
      if (!outcome.ok) continue;
      unblockOf.set(outcome.action.actionId, block.fleetId);
      await fleetStore.setMember({ ...member, unblockActionId: outcome.action.actionId });
    }
  }

  /** The options of a part's BLOCK_IP: what is left of the fleet block's time (0 = until unblocked); undefined once it has ended. */
  function optionsLeft(block: FleetBlock): ActionOptions | undefined {
    const left = block.expiresAt === undefined ? 0 : block.expiresAt - now();
    return left < 0 || (left === 0 && block.expiresAt !== undefined) ? undefined : create(ActionOptionsSchema, { duration: durationFromMs(left) });
  }

  /** The operator a later part's BLOCK_IP carries: the one of the fleet block's first. */
  async function firstOperator(block: FleetBlock): Promise<Operator> {
    const first = (await fleetStore.listMembers(block.fleetId)).find((m) => m.actionId !== undefined);
    return (first?.actionId !== undefined ? (await store.getAction(first.actionId))?.operator : undefined) ?? create(OperatorSchema, {});
  }

  async function join(block: FleetBlock, agent: AgentRecord, operator: Operator, options: ActionOptions | undefined, alertAgentId?: string): Promise<void> {
    if (!(await fleetStore.claimMember(block.fleetId, agent.agentId))) return;
    await requestPart(block, agent, operator, options, alertAgentId);
  }

  /** A claimed part: skipped (opted out, cannot block), or its BLOCK_IP requested under the part's own action id. */
  async function requestPart(block: FleetBlock, agent: AgentRecord, operator: Operator, options: ActionOptions | undefined, alertAgentId?: string): Promise<void> {
    const member: FleetMember = { fleetId: block.fleetId, agentId: agent.agentId };
    if (agent.fleetBlockOptOut) return fleetStore.setMember({ ...member, skipped: "opted_out" });
    if (!agent.actions.includes(Answer.BLOCK_IP)) return fleetStore.setMember({ ...member, skipped: "cannot_block" });
    const answersAlert = block.alertId !== undefined && agent.agentId === alertAgentId;
    const target = create(ActionTargetSchema, { target: { case: "ip", value: block.ip } });
    const actionId = fleetActionId(block.fleetId, agent.agentId, Answer.BLOCK_IP);
    const request = (alertId: string | undefined) => actions.request({ agentId: agent.agentId, alertId, answer: Answer.BLOCK_IP, operator, target, actionId, ...(options ? { options } : {}) });
    let outcome = await request(answersAlert ? block.alertId : undefined);
    // The alert was answered meanwhile: the agent still takes part in the fleet block.
    if (!outcome.ok && answersAlert && outcome.reason !== "unsupported") outcome = await request(undefined);
    await fleetStore.setMember(outcome.ok ? { ...member, actionId: outcome.action.actionId } : { ...member, skipped: outcome.detail });
  }

  async function memberState(member: FleetMember, agent: AgentRecord | undefined): Promise<MemberState> {
    // Claimed, its BLOCK_IP not requested yet: it is on its way (counted, never shown as skipped).
    if (member.actionId === undefined && member.skipped === undefined) return { state: agent?.online ? "sent" : "queued" };
    if (member.actionId === undefined) return { state: "skipped", detail: member.skipped ?? "" };
    const action = await store.getAction(member.actionId);
    if (member.unblockActionId !== undefined) {
      const unblock = await store.getAction(member.unblockActionId);
      return { state: unblock?.resultStatus === ResultStatus.DONE ? "lifted" : "lifting" };
    }
    if (!action || action.resultStatus === undefined) return { state: agent?.online ? "sent" : "queued" };
    if (action.resultStatus === ResultStatus.DONE) return { state: "blocked" };
    return { state: "refused", detail: action.detail };
  }

  return {
    async block(input) {
      const at = now();
      const lasts = input.options?.duration ? durationMs(input.options.duration) : 0;
      const block: FleetBlock = {
        fleetId: makeId(at),
        ip: input.ip,
        requestedBy: input.requestedBy,
        requestedAt: at,
        ...(input.alertId !== undefined ? { alertId: input.alertId } : {}),
        ...(lasts > 0 ? { expiresAt: at + lasts } : {}),
      };
      await fleetStore.saveFleetBlock(block);
      for (const agent of await store.listAgents()) await join(block, agent, input.operator, input.options, input.alertAgentId);
      return block;
    },
    async agentConnected(agentId) {
      const agent = await store.getAgent(agentId);
      if (!agent) return;
      for (const block of await active()) {
        // The joiner is blocked for what is left of the fleet block's time, in the name of its first operator.
        const options = optionsLeft(block);
        if (options) await join(block, agent, await firstOperator(block), options);
      }
    },
    async lift(fleetId, operator, by) {
      if (!(await fleetStore.liftFleetBlock(fleetId, new Date(now()), by))) return false;
      await unblockParts((await fleetStore.getFleetBlock(fleetId))!, operator);
      return true;
    },
    async status(fleetId) {
      const block = await fleetStore.getFleetBlock(fleetId);
      if (!block) return undefined;
      const members = [];
      for (const member of await fleetStore.listMembers(fleetId)) {
        const agent = await store.getAgent(member.agentId);
        members.push({ agentId: member.agentId, hostname: agent?.hostname ?? member.agentId, ...(member.actionId !== undefined ? { actionId: member.actionId } : {}), ...(await memberState(member, agent)) });
      }
      return { block, members };
    },
    listActive: active,
    async recover() {
      // A stop in the middle of Unblock everywhere: the rest of its UNBLOCK_IPs.
      for (const block of await fleetStore.listLiftedUnfinished()) await unblockParts(block, await firstOperator(block));
      for (const block of await active()) {
        const alertAgentId = block.alertId !== undefined ? (await store.getAlert(block.alertId))?.agentId : undefined;
        for (const member of await fleetStore.listMembers(block.fleetId)) {
          if (member.actionId !== undefined || member.skipped !== undefined) continue;
          const stored = await store.getAction(fleetActionId(block.fleetId, member.agentId, Answer.BLOCK_IP));
          if (stored) {
            await fleetStore.setMember({ ...member, actionId: stored.actionId });
            continue;
          }
          const agent = await store.getAgent(member.agentId);
          const options = optionsLeft(block);
          if (agent && options) await requestPart(block, agent, await firstOperator(block), options, alertAgentId);
          else await fleetStore.setMember({ ...member, skipped: agent ? "expired" : "unknown_agent" });
        }
      }
    },
    async fleetOfAction(actionId) {
      return unblockOf.get(actionId) ?? (await fleetStore.fleetOfAction(actionId));
    },
  };
}
