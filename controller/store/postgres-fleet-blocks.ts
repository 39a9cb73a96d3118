import { toFleetBlock, toFleetMember, type FleetBlockRow, type FleetBlockStore, type FleetMemberRow } from "./fleet-block-store.js";
import type { Migration } from "./migrate.js";
import { migratePostgres } from "./postgres-migrate.js";
import type { PgSql } from "./postgres-types.js";

/** The fleet blocks' tables in PostgreSQL (component "fleet_blocks"), the twin of sqlite-fleet-blocks.ts. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE fleet_blocks (
        fleet_id     TEXT PRIMARY KEY,
        ip           TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at BIGINT NOT NULL,
        alert_id     TEXT,
        lifted_at    BIGINT,
        lifted_by    TEXT
      );
      CREATE TABLE fleet_block_members (
        fleet_id          TEXT NOT NULL REFERENCES fleet_blocks (fleet_id),
        agent_id          TEXT NOT NULL,
        action_id         TEXT,
        skipped           TEXT,
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
      ALTER TABLE fleet_blocks ADD COLUMN expires_at BIGINT;
      CREATE INDEX fleet_block_members_unblock ON fleet_block_members (unblock_action_id);
    `,
  },
];

/** Fleet blocks kept in PostgreSQL; migrates its tables first. */
export async function openPostgresFleetBlockStore(sql: PgSql, where: string): Promise<FleetBlockStore> {
  await migratePostgres(sql, "fleet_blocks", MIGRATIONS, where);
  return {
    async saveFleetBlock(b) {
      await sql`INSERT INTO fleet_blocks (fleet_id, ip, requested_by, requested_at, alert_id, expires_at)
        VALUES (${b.fleetId}, ${b.ip}, ${b.requestedBy}, ${b.requestedAt}, ${b.alertId ?? null}, ${b.expiresAt ?? null}) ON CONFLICT (fleet_id) DO NOTHING`;
    },
    async claimMember(fleetId, agentId) {
      const rows = await sql`INSERT INTO fleet_block_members (fleet_id, agent_id) VALUES (${fleetId}, ${agentId}) ON CONFLICT DO NOTHING RETURNING agent_id`;
      return rows.length > 0;
    },
    async setMember(m) {
      await sql`UPDATE fleet_block_members SET action_id = ${m.actionId ?? null}, skipped = ${m.skipped ?? null}, unblock_action_id = ${m.unblockActionId ?? null}
        WHERE fleet_id = ${m.fleetId} AND agent_id = ${m.agentId}`;
    },
    async liftFleetBlock(fleetId, at, by) {
      const rows = await sql`UPDATE fleet_blocks SET lifted_at = ${at.getTime()}, lifted_by = ${by} WHERE fleet_id = ${fleetId} AND lifted_at IS NULL RETURNING fleet_id`;
      return rows.length > 0;
    },
    async getFleetBlock(fleetId) {
      const rows = await sql<FleetBlockRow[]>`SELECT * FROM fleet_blocks WHERE fleet_id = ${fleetId}`;
      return rows[0] ? toFleetBlock(rows[0]) : undefined;
    },
    async listActiveFleetBlocks() {
      const rows = await sql<FleetBlockRow[]>`SELECT * FROM fleet_blocks WHERE lifted_at IS NULL ORDER BY requested_at, fleet_id`;
      return rows.map(toFleetBlock);
    },
    async listLiftedUnfinished() {
      const rows = await sql<FleetBlockRow[]>`SELECT * FROM fleet_blocks f WHERE f.lifted_at IS NOT NULL AND EXISTS (SELECT 1 FROM fleet_block_members m
        WHERE m.fleet_id = f.fleet_id AND m.action_id IS NOT NULL AND m.unblock_action_id IS NULL) ORDER BY f.requested_at, f.fleet_id`;
      return rows.map(toFleetBlock);
    },
    async listMembers(fleetId) {
      const rows = await sql<FleetMemberRow[]>`SELECT * FROM fleet_block_members WHERE fleet_id = ${fleetId} ORDER BY agent_id COLLATE "C"`;
      return rows.map(toFleetMember);
    },
    async fleetOfAction(actionId) {
      const rows = await sql<Array<{ fleet_id: string }>>`SELECT fleet_id FROM fleet_block_members WHERE action_id = ${actionId}
        UNION ALL SELECT fleet_id FROM fleet_block_members WHERE unblock_action_id = ${actionId} LIMIT 1`;
      return rows[0]?.fleet_id;
    },
  };
}
