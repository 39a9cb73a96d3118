import { expect } from "chai";
import { silentLogger } from "../../common/log.js";
import { useReplicaDatabase } from "../../test/support/replica-database.js";
import { startReplicaHousekeeping, type ReplicaHousekeeping } from "./replica-housekeeping.js";
import { createTelegramUpdateLog } from "./telegram-updates.js";

const HOUR = 3_600_000;

describe("replica housekeeping (real PostgreSQL)", function () {
  this.timeout(60_000);
  const db = useReplicaDatabase();
  const stops: ReplicaHousekeeping[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) await s.stop();
  });

  it("deletes replicas stopped or reaped and silent for longer than keepMs, and update_ids handled before it; keeps live replicas, recent ones and a frozen one not reaped", async () => {
    const store = await db.open();
    const { sql } = store;
    const replica = async (id: string, silentForMs: number, ended: "stopped" | "reaped" | "live") => {
      await sql`INSERT INTO replicas (replica_id, host, pid, started_at, heartbeat_at, stopped_at, reaped_at)
        VALUES (${id}, 'h', 1, secarc_now_ms() - ${silentForMs + HOUR}, secarc_now_ms() - ${silentForMs},
          ${ended === "stopped" ? sql`secarc_now_ms() - ${silentForMs}` : null}, ${ended === "reaped" ? sql`secarc_now_ms() - ${silentForMs - 15_000}` : null})`;
    };
    await replica("stopped-2d", 48 * HOUR, "stopped");
    await replica("reaped-2d", 48 * HOUR, "reaped");
    await replica("stopped-1h", HOUR, "stopped");
    await replica("reaped-1h", HOUR, "reaped");
    // Silent for two days and never reaped (no survivor since): not ours to delete; a survivor reaps it first.
    await replica("silent-2d", 48 * HOUR, "live");
    await replica("live", 0, "live");
    for (const [updateId, ageMs] of [[1, 30 * HOUR], [2, 25 * HOUR], [3, 23 * HOUR], [4, 0]] as const) {
      await sql`INSERT INTO telegram_updates (update_id, handled_at, replica_id) VALUES (${updateId}, secarc_now_ms() - ${ageMs}, 'live')`;
    }

    // The sweep at start already ran (and the timer is an hour away): a second prune finds nothing more.
    const housekeeping = startReplicaHousekeeping({ sql, logger: silentLogger(), updates: createTelegramUpdateLog("live"), keepMs: 24 * HOUR });
    stops.push(housekeeping);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await housekeeping.prune()).to.deep.equal({ replicas: 0, updates: 0 });

    const replicas = (await sql<Array<{ replica_id: string }>>`SELECT replica_id FROM replicas ORDER BY replica_id`).map((r) => r.replica_id);
    expect(replicas).to.deep.equal(["live", "reaped-1h", "silent-2d", "stopped-1h"]);
    const updates = (await sql<Array<{ update_id: string }>>`SELECT update_id FROM telegram_updates ORDER BY update_id`).map((r) => Number(r.update_id));
    expect(updates).to.deep.equal([3, 4]);
    // A handled update that was pruned could be claimed again; one kept cannot.
    const log = createTelegramUpdateLog("live");
    expect(await log.claim(sql, 3)).to.equal(false);
  });

  it("counts what one prune deleted", async () => {
    const store = await db.open();
    const { sql } = store;
    const housekeeping = startReplicaHousekeeping({ sql, logger: silentLogger(), updates: createTelegramUpdateLog("r"), keepMs: HOUR });
    stops.push(housekeeping);
    await housekeeping.prune();
    await sql`INSERT INTO replicas (replica_id, host, pid, started_at, heartbeat_at, stopped_at) VALUES ('old', 'h', 1, 0, secarc_now_ms() - ${2 * HOUR}, secarc_now_ms() - ${2 * HOUR})`;
    await sql`INSERT INTO telegram_updates (update_id, handled_at, replica_id) VALUES (7, secarc_now_ms() - ${2 * HOUR}, 'old'), (8, secarc_now_ms() - ${2 * HOUR}, 'old')`;
    expect(await housekeeping.prune()).to.deep.equal({ replicas: 1, updates: 2 });
  });
});
