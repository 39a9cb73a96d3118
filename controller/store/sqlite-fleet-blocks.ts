import type { Database } from "better-sqlite3";
import { toFleetBlock, toFleetMember, type FleetBlockRow, type FleetBlockStore, type FleetMemberRow } from "./fleet-block-store.js";
import { migrate, type Migration } from "./migrate.js";

/** The fleet blocks' tables, in the controller's SQLite file (component "fleet_blocks"). */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE fleet_blocks (
        fleet_id TEXT PRIMARY KEY,
        ip TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        alert_id TEXT,
        lifted_at INTEGER,
        lifted_by TEXT
      );
      CREATE TABLE fleet_block_members (
        fleet_id TEXT NOT NULL REFERENCES fleet_blocks (fleet_id),
        agent_id TEXT NOT NULL,
        action_id TEXT,
        skipped TEXT,
        unblock_action_id TEXT,
        PRIMARY KEY (fleet_id, agent_id)
      );
      CREATE INDEX fleet_block_members_action ON fleet_block_members (action_id);
    `,
  },
  {
    // A fleet block's end (a server that joins later is blocked for what is left), and its unblocks found after a restart.
    version: 2,
    sql: `
      ALTER TABLE fleet_blocks ADD COLUMN expires_at INTEGER;
      CREATE INDEX fleet_block_members_unblock ON fleet_block_members (unblock_action_id);
    `,
  },
];

/** Fleet blocks kept in SQLite; every write is durable when its promise resolves. */
export function createSqliteFleetBlockStore(db: Database): FleetBlockStore {
  migrate(db, "fleet_blocks", MIGRATIONS);
  const stmt = {
    save: db.prepare(`INSERT INTO fleet_blocks (fleet_id, ip, requested_by, requested_at, alert_id, expires_at)
      VALUES (@fleetId, @ip, @requestedBy, @requestedAt, @alertId, @expiresAt) ON CONFLICT (fleet_id) DO NOTHING`),
    claim: db.prepare("INSERT INTO fleet_block_members (fleet_id, agent_id) VALUES (?, ?) ON CONFLICT DO NOTHING"),
    setMember: db.prepare(`UPDATE fleet_block_members SET action_id = @actionId, skipped = @skipped, unblock_action_id = @unblockActionId
      WHERE fleet_id = @fleetId AND agent_id = @agentId`),
    lift: db.prepare("UPDATE fleet_blocks SET lifted_at = ?, lifted_by = ? WHERE fleet_id = ? AND lifted_at IS NULL"),
    get: db.prepare("SELECT * FROM fleet_blocks WHERE fleet_id = ?"),
    active: db.prepare("SELECT * FROM fleet_blocks WHERE lifted_at IS NULL ORDER BY requested_at, fleet_id"),
    liftedUnfinished: db.prepare(`SELECT * FROM fleet_blocks f WHERE f.lifted_at IS NOT NULL AND EXISTS (SELECT 1 FROM fleet_block_members m
      WHERE m.fleet_id = f.fleet_id AND m.action_id IS NOT NULL AND m.unblock_action_id IS NULL) ORDER BY f.requested_at, f.fleet_id`),
    members: db.prepare("SELECT * FROM fleet_block_members WHERE fleet_id = ? ORDER BY agent_id"),
    ofAction: db.prepare("SELECT fleet_id FROM fleet_block_members WHERE action_id = @id UNION ALL SELECT fleet_id FROM fleet_block_members WHERE unblock_action_id = @id LIMIT 1"),
  };
  return {
    async saveFleetBlock(block) {
      stmt.save.run({ fleetId: block.fleetId, ip: block.ip, requestedBy: block.requestedBy, requestedAt: block.requestedAt, alertId: block.alertId ?? null, expiresAt: block.expiresAt ?? null });
    },
    async claimMember(fleetId, agentId) {
      return stmt.claim.run(fleetId, agentId).changes > 0;
    },
    async setMember(m) {
      stmt.setMember.run({ fleetId: m.fleetId, agentId: m.agentId, actionId: m.actionId ?? null, skipped: m.skipped ?? null, unblockActionId: m.unblockActionId ?? null });
    },
    async liftFleetBlock(fleetId, at, by) {
      return stmt.lift.run(at.getTime(), by, fleetId).changes > 0;
    },
    async getFleetBlock(fleetId) {
      const row = stmt.get.get(fleetId) as FleetBlockRow | undefined;
      return row ? toFleetBlock(row) : undefined;
    },
    async listActiveFleetBlocks() {
      return (stmt.active.all() as FleetBlockRow[]).map(toFleetBlock);
    },
    async listLiftedUnfinished() {
      return (stmt.liftedUnfinished.all() as FleetBlockRow[]).map(toFleetBlock);
    },
    async listMembers(fleetId) {
      return (stmt.members.all(fleetId) as FleetMemberRow[]).map(toFleetMember);
    },
    async fleetOfAction(actionId) {
      return (stmt.ofAction.get({ id: actionId }) as { fleet_id: string } | undefined)?.fleet_id;
    },
  };
}
