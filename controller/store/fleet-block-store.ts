/**
 * A block on all servers: one address (or prefix) blocked on every agent
 * that can block it, one member row per agent.
 */
export interface FleetBlock {
  fleetId: string;
  /** The address or prefix, as the BLOCK_IP target names it. */
  ip: string;
  /** Who asked for it (an operator name, as the audit writes it). */
  requestedBy: string;
  /** ms since the epoch. */
  requestedAt: number;
  /** The alert answered, if one was. */
  alertId?: string;
  /** When it ends by itself (ms since the epoch: the request's time plus the block's duration); absent: until lifted. */
  expiresAt?: number;
  /** ms since the epoch; absent while the block is in force. */
  liftedAt?: number;
  liftedBy?: string;
}

/** One agent's part in a fleet block. */
export interface FleetMember {
  fleetId: string;
  agentId: string;
  /** The BLOCK_IP action sent to it; absent when it took no part (see `skipped`). */
  actionId?: string;
  /** Why it got no BLOCK_IP: "opted_out", "cannot_block" or the controller's refusal. */
  skipped?: string;
  /** The UNBLOCK_IP action of "Unblock everywhere". */
  unblockActionId?: string;
}

/** Where fleet blocks are kept; every write is durable when its promise resolves. */
export interface FleetBlockStore {
  /** Stores a new fleet block; an existing id is left as it is. */
  saveFleetBlock(block: FleetBlock): Promise<void>;
  /**
   * Claims an agent's place in a fleet block: true the first time, false when the
   * agent already has one (so each agent gets the block at most once).
   */
  claimMember(fleetId: string, agentId: string): Promise<boolean>;
  /** Sets what the claimed member got: its action, or why it got none. */
  setMember(member: FleetMember): Promise<void>;
  /** Marks a fleet block lifted once; false when it was already lifted or is unknown. */
  liftFleetBlock(fleetId: string, at: Date, by: string): Promise<boolean>;
  getFleetBlock(fleetId: string): Promise<FleetBlock | undefined>;
  /** Fleet blocks not lifted, oldest first. */
  listActiveFleetBlocks(): Promise<FleetBlock[]>;
  /** Lifted fleet blocks with a member that was sent the BLOCK_IP but has no UNBLOCK_IP yet (a stop in the middle of the lift), oldest first. */
  listLiftedUnfinished(): Promise<FleetBlock[]>;
  /** A fleet block's members, by agent id. */
  listMembers(fleetId: string): Promise<FleetMember[]>;
  /** The fleet block (lifted or not) whose member got this BLOCK_IP or UNBLOCK_IP action, if any. */
  fleetOfAction(actionId: string): Promise<string | undefined>;
}


export interface FleetBlockRow {
  fleet_id: string;
  ip: string;
  requested_by: string;
  requested_at: string | number;
  alert_id: string | null;
  expires_at: string | number | null;
  lifted_at: string | number | null;
  lifted_by: string | null;
}

export interface FleetMemberRow {
  fleet_id: string;
  agent_id: string;
  action_id: string | null;
  skipped: string | null;
  unblock_action_id: string | null;
}

export function toFleetBlock(row: FleetBlockRow): FleetBlock {
  return {
    fleetId: row.fleet_id,
    ip: row.ip,
    requestedBy: row.requested_by,
    requestedAt: Number(row.requested_at),
    ...(row.alert_id !== null ? { alertId: row.alert_id } : {}),
    ...(row.expires_at !== null && row.expires_at !== undefined ? { expiresAt: Number(row.expires_at) } : {}),
    ...(row.lifted_at !== null ? { liftedAt: Number(row.lifted_at) } : {}),
    ...(row.lifted_by !== null ? { liftedBy: row.lifted_by } : {}),
  };
}

export function toFleetMember(row: FleetMemberRow): FleetMember {
  return {
    fleetId: row.fleet_id,
    agentId: row.agent_id,
    ...(row.action_id !== null ? { actionId: row.action_id } : {}),
    ...(row.skipped !== null ? { skipped: row.skipped } : {}),
    ...(row.unblock_action_id !== null ? { unblockActionId: row.unblock_action_id } : {}),
  };
}
