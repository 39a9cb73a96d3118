import { join } from "node:path";
import { expect } from "chai";
import { startController, type RunningController } from "../controller/controller.js";
import { eventually } from "./support/replica-database.js";
import { captureLog, testControllerConfig } from "./support/controller-harness.js";
import { useReplicaFleet } from "./support/replica-fleet.js";

/** Short timings, as an operator would write them in the `replicas` section. */
const replicas = { heartbeatEvery: "200ms", deadAfter: "1s", telegramLeaseTtl: "3s", actionSweepEvery: "500ms" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

/**
 * The `replicas` section of the config reaches the replicas: a replica
 * process started from a config file with 200 ms heartbeats beats at that
 * pace in `replicas` and renews a 3 s Telegram lease; a second replica with
 * a 1 s death time takes over the first one (frozen with SIGSTOP) and its
 * lease within a few seconds, where the defaults (15 s each) would take
 * more than 15.
 */
describe("replicas on PostgreSQL: timings from the config", function () {
  this.timeout(120_000);
  const fleets = useReplicaFleet("secarc-replica-timings-");
  const controllers: RunningController[] = [];
  afterEach(async () => {
    for (const c of controllers.splice(0)) await c.close();
  });

  it("heartbeatEvery, telegramLeaseTtl, deadAfter and actionSweepEvery from the config are the ones the replicas run on", async () => {
    const fleet = await fleets.create("replica_timings");
    const a = await fleet.startProcess("a", { replicas });
    const [rowA] = await eventually(async () => {
      const rows = await fleet.db<Array<{ replica_id: string }>>`SELECT replica_id FROM replicas WHERE pid = ${a.process.pid}`;
      return rows.length === 1 && rows;
    }, "A has its row in replicas", 20_000);
    const idA = rowA!.replica_id;

    // Heartbeats at a 200 ms pace (the default would show one beat in these 2 s), and a lease of 3 s at most ahead.
    const beats = new Set<number>();
    const leaseLeft: number[] = [];
    for (const until = Date.now() + 2_000; Date.now() < until; await sleep(40)) {
      const [row] = await fleet.db<Array<{ heartbeat_at: number; lease_left: number | null; epoch: number | null }>>`
        SELECT r.heartbeat_at::float8 AS heartbeat_at, (l.expires_at - secarc_now_ms())::float8 AS lease_left, l.epoch::int AS epoch
        FROM replicas r LEFT JOIN leases l ON l.name = 'telegram' AND l.holder = r.replica_id
        WHERE r.replica_id = ${idA}`;
      beats.add(row!.heartbeat_at);
      if (row!.lease_left !== null) leaseLeft.push(row!.lease_left);
    }
    const times = [...beats].sort((x, y) => x - y);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(times.length, `beats seen in 2 s: ${gaps.join(", ")} ms apart`).to.be.at.least(6);
    expect(median(gaps), `gaps between beats: ${gaps.join(", ")} ms`).to.be.within(150, 400);
    expect(leaseLeft.length, "A holds the Telegram lease").to.be.above(10);
    expect(Math.max(...leaseLeft), "the lease is renewed for 3 s, not 15").to.be.at.most(3_000);
    expect(Math.min(...leaseLeft), "renewed every second, well before it runs out").to.be.above(0);
    expect((await fleet.leaseHolder())?.holder).to.equal(idA);

    // B, in this process, with the same section: it starts on these timings and says so.
    const log = captureLog();
    const b = await startController({
      config: testControllerConfig(fleets.pki, fleets.dir, { store: fleet.store, admin: { socket: join(fleets.dir, "timings-b.sock") }, replicas }),
      logger: log.logger,
    });
    controllers.push(b);
    const [started] = log.matching("replica timings");
    expect(started).to.deep.include({ replicaId: b.replicaId, heartbeatEvery: 200, deadAfter: 1_000, telegramLeaseTtl: 3_000, actionSweepEvery: 500 });

    // A freezes: B reaps it about 1 s after its last beat, and speaks within the 3 s lease.
    a.process.kill("SIGSTOP");
    const frozenAt = Date.now();
    const [reaped] = await eventually(async () => {
      const rows = await fleet.db<Array<{ reaped_at: number | null; heartbeat_at: number }>>`
        SELECT reaped_at::float8 AS reaped_at, heartbeat_at::float8 AS heartbeat_at FROM replicas WHERE replica_id = ${idA}`;
      return rows[0]?.reaped_at !== null && rows;
    }, "B reaps the frozen A", 10_000);
    const silentFor = reaped!.reaped_at! - reaped!.heartbeat_at;
    expect(silentFor, "reaped after deadAfter (1 s) and within a few beats more").to.be.within(1_000, 2_500);
    await eventually(async () => (await fleet.leaseHolder())?.holder === b.replicaId, "B holds the Telegram lease", 10_000);
    expect(Date.now() - frozenAt, "the lease moved within its 3 s TTL (plus a beat of slack), not 15 s").to.be.below(5_000);
  });
});
