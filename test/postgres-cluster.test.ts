import { existsSync, statSync } from "node:fs";
import { expect } from "chai";
import postgres from "postgres";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";

describe("throw-away PostgreSQL cluster (testing/postgres.ts)", function () {
  this.timeout(180_000);
  let cluster: PgCluster | undefined;
  after(async () => cluster?.stop());

  it("serves on loopback with fsync on, as a non-root user, and leaves nothing behind", async () => {
    cluster = await startPgCluster();
    const url = await cluster.createDatabase("cluster_check");
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<Array<{ fsync: string; listen: string; db: string; addr: string }>>`
        SELECT current_setting('fsync') AS fsync, current_setting('listen_addresses') AS listen,
               current_database() AS db, host(inet_server_addr()) AS addr`;
      expect(row).to.deep.equal({ fsync: "on", listen: "127.0.0.1", db: "cluster_check", addr: "127.0.0.1" });
      const [one] = await sql<Array<{ ok: number }>>`SELECT 1 AS ok`;
      expect(one?.ok).to.equal(1);
    } finally {
      await sql.end({ timeout: 5 });
    }
    // initdb refuses root: the data directory belongs to a regular user.
    expect(statSync(`${cluster.dir}/data`).uid).to.not.equal(0);
    expect(existsSync(`${cluster.dir}/.s.PGSQL.${cluster.port}`), "unix socket in the temp dir").to.equal(true);
    const dir = cluster.dir;
    await cluster.stop();
    expect(existsSync(dir)).to.equal(false);
    cluster = undefined;
  });
});
