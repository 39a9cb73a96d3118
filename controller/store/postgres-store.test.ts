import { createServer } from "node:net";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import postgres from "postgres";
import { isSecarcError } from "../../common/errors.js";
import { ActionResultSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { startPgCluster, type PgCluster } from "../../testing/postgres.js";
import { coreMigrations } from "./core-schema.js";
import { postgresCoreMigrations } from "./postgres-schema.js";
import { isStorageError, storageTrouble } from "./storage-errors.js";
import { openPostgresStore, pgTransactionOf, redactUrl, type PostgresStore } from "./postgres-store.js";

function alert(id: string, revision: number, severity = Severity.WARNING): Alert {
  return create(AlertSchema, {
    id,
    revision,
    kind: AlertKind.SSH_SESSION,
    severity,
    state: AlertState.OPEN,
    detectedAt: timestampFromMs(1_700_000_000_000),
    summary: `rev ${revision}`,
  });
}
/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const at = (ms: number) => new Date(1_700_000_000_000 + ms);

describe("openPostgresStore (real PostgreSQL)", function () {
  this.timeout(120_000);
  let cluster: PgCluster;
  let url: string;
  const open: PostgresStore[] = [];
  const openStore = async (u = url) => {
    const store = await openPostgresStore({ url: u, poolSize: 4 });
    open.push(store);
    return store;
  };

  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => cluster?.stop());
  beforeEach(async () => {
    url = await cluster.createDatabase();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it("has a PostgreSQL step for every SQLite step, with the same version numbers", () => {
    expect(postgresCoreMigrations.map((m) => m.version)).to.deep.equal(coreMigrations.map((m) => m.version));
  });

  it("migrates once when replicas start together, and refuses a schema from a newer secarc", async () => {
    const stores = await Promise.all([openStore(), openStore(), openStore()]);
    const [row] = await stores[0]!.sql<Array<{ version: number }>>`SELECT version FROM schema_versions WHERE component = 'core'`;
    expect(row?.version).to.equal(coreMigrations.length);
    await stores[0]!.sql`UPDATE schema_versions SET version = 99 WHERE component = 'core'`;
    const refusal = await openStore().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isSecarcError(refusal, "refused"), String(refusal)).to.equal(true);
    expect(String((refusal as Error).message)).to.match(/schema is version 99, this secarc knows up to \d+/);
  });

  it("gives numbers back as numbers (BIGINT times) and bytes as bytes", async () => {
    const store = await openStore();
    const record = await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web", addresses: ["10.0.0.2"], actions: [Answer.BLOCK_IP], detectors: [1], at: at(5), certSerial: "0a" });
    expect(record.firstSeen.getTime()).to.equal(at(5).getTime());
    expect(record.connects).to.equal(1);
    await store.setClockSkew("web-1", 1234.6);
    expect((await store.getAgent("web-1"))?.clockSkewMs).to.equal(1235);
    expect(await store.setRevokedSerials(["0a"], at(6))).to.deep.equal(["web-1"]);
    expect(await store.setRevokedSerials(["0a"], at(7))).to.deep.equal([]);
    expect((await store.getAgent("web-1"))?.revokedAt?.getTime()).to.equal(at(6).getTime());
    await store.setRevokedSerials([], at(8));
    expect((await store.getAgent("web-1"))?.revokedAt).to.equal(undefined);
  });

  it("stores a group commit's alerts through one prefetch: new ones inserted, stored revisions unchanged, the rest left to their writes", async () => {
    const store = await openStore();
    await store.upsertAlert("web-1", alert("old", 2), at(1));
    await store.upsertAlert("web-1", alert("low", 1), at(1));
    await store.upsertAlert("db-1", alert("theirs", 1), at(1));
    const batch = [
      { agentId: "web-1", alert: alert("new-1", 1), at: at(10) },
      { agentId: "web-1", alert: alert("new-2", 1), at: at(10) },
      { agentId: "web-1", alert: alert("old", 2), at: at(10) },
      { agentId: "web-1", alert: alert("low", 3), at: at(10) },
      { agentId: "web-1", alert: alert("theirs", 1), at: at(10) },
      { agentId: "web-1", alert: alert("twice", 1), at: at(10) },
      { agentId: "web-1", alert: alert("twice", 2), at: at(10) },
    ];
    const outcomes = await store.transaction(async (tx) => {
      await store.alertPrefetch.prepare(tx, batch);
      // One insert stored the new ones before any write ran (the first "twice" only); each write then takes its result.
      const rows = await pgTransactionOf(tx)!<Array<{ alert_id: string; revision: number }>>`SELECT alert_id, revision FROM alerts WHERE alert_id IN ('new-1', 'new-2', 'twice') ORDER BY alert_id`;
      expect(rows.map((r) => `${r.alert_id}@${r.revision}`)).to.deep.equal(["new-1@1", "new-2@1", "twice@1"]);
      const seen: string[] = [];
      for (const p of batch) {
        seen.push(await tx.upsertAlert(p.agentId, p.alert, p.at).then((r) => `${p.alert.id}:${r.outcome}`, (err: unknown) => `${p.alert.id}:${isSecarcError(err, "refused") ? "refused" : String(err)}`));
      }
      return seen;
    });
    expect(outcomes).to.deep.equal(["new-1:inserted", "new-2:inserted", "old:unchanged", "low:updated", "theirs:refused", "twice:inserted", "twice:updated"]);
    expect((await store.getAlert("new-1"))?.alert.summary).to.equal("rev 1");
    expect((await store.getAlert("low"))?.alert.revision).to.equal(3);
    expect((await store.getAlert("twice"))?.alert.revision).to.equal(2);
    expect((await store.getAlert("theirs"))?.agentId).to.equal("db-1");
  });

  it("stores a group commit's Hellos with their detector sources in one upsert, as agentConnected and setDetectorSources would", async () => {
    const store = await openStore();
    await store.agentConnected({ agentId: "web-1", version: "1", hostname: "web", addresses: ["10.0.0.2"], actions: [Answer.BLOCK_IP], detectors: [1], at: at(1), certSerial: "0a" });
    const hello = (agentId: string, ms: number, certSerial?: string) => ({
      input: { agentId, version: "2", hostname: agentId, addresses: ["10.0.0.9"], actions: [Answer.BLOCK_IP, Answer.REBOOT], detectors: [1, 2], at: at(ms), labels: { role: "web" }, ...(certSerial ? { certSerial } : {}) },
      sources: [{ detector: 1, kind: 1, path: "/var/log/auth.log", state: 1, detail: "", since: at(ms) }] as never,
    });
    const batch = [hello("web-1", 10), hello("db-1", 10, "0b"), hello("web-1", 11)];
    const records = await store.transaction(async (tx) => {
      await store.helloPrefetch.prepare(tx, batch);
      // One upsert stored the first Hello of each agent before any write ran.
      const rows = await pgTransactionOf(tx)!<Array<{ agent_id: string; connects: number }>>`SELECT agent_id, connects FROM agents ORDER BY agent_id`;
      expect(rows.map((r) => `${r.agent_id}:${r.connects}`)).to.deep.equal(["db-1:1", "web-1:2"]);
      const out = [];
      for (const p of batch) {
        out.push(await tx.agentConnected(p.input));
        await tx.setDetectorSources(p.input.agentId, p.sources);
      }
      return out;
    });
    expect(records.map((r) => [r.agentId, r.connects, r.firstSeen.getTime(), r.lastSeen.getTime(), r.certSerial ?? null])).to.deep.equal([
      ["web-1", 2, at(1).getTime(), at(10).getTime(), "0a"],
      ["db-1", 1, at(10).getTime(), at(10).getTime(), "0b"],
      ["web-1", 3, at(1).getTime(), at(11).getTime(), "0a"],
    ]);
    const web = await store.getAgent("web-1");
    expect([web?.version, web?.online, web?.labels, web?.detectorSources.length]).to.deep.equal(["2", true, { role: "web" }, 1]);
  });

  it("rolls back a transaction whose prefetched alert no write took (it would be stored unannounced)", async () => {
    const store = await openStore();
    const taken = alert("taken", 1);
    const err = await store
      .transaction(async (tx) => {
        await store.alertPrefetch.prepare(tx, [
          { agentId: "web-1", alert: taken, at: at(1) },
          { agentId: "web-1", alert: alert("forgotten", 1), at: at(1) },
        ]);
        await tx.upsertAlert("web-1", taken, at(1));
      })
      .then(() => undefined, (e: unknown) => e);
    expect(isSecarcError(err, "internal")).to.equal(true);
    expect(await store.getAlert("taken")).to.equal(undefined);
    expect(await store.getAlert("forgotten")).to.equal(undefined);
  });

  it("says which server it cannot reach, without the password", async () => {
    const dead = `postgres://secarc:hunter2@127.0.0.1:${cluster.port}/no_such_database`;
    const err = await openPostgresStore({ url: dead, connectTimeoutSeconds: 5 }).catch((e: unknown) => e);
    expect(isSecarcError(err, "unavailable"), String(err)).to.equal(true);
    expect((err as Error).message).to.include("127.0.0.1").and.include("no_such_database").and.not.include("hunter2");
    expect(redactUrl(dead)).to.not.include("hunter2");
  });

  it("tells storage trouble (server gone) from other errors, as the store's health needs", async () => {
    const store = await openStore();
    const syntax = await store.sql`SELEC 1`.catch((e: unknown) => e);
    expect(isStorageError(syntax), String(syntax)).to.equal(false);
    const gone = postgres(`postgres://secarc@127.0.0.1:${await closedPort()}/x`, { max: 1, connect_timeout: 5 });
    const refused = await gone`SELECT 1`.catch((e: unknown) => e);
    await gone.end({ timeout: 1 });
    expect(isStorageError(refused), String(refused)).to.equal(true);
    expect(storageTrouble(refused)).to.equal("store unreachable");
  });

  it("offers its pool for LISTEN/NOTIFY", async () => {
    const store = await openStore();
    const heard: string[] = [];
    const listening = await store.sql.listen("secarc_test", (payload) => heard.push(payload));
    const other = postgres(url, { max: 1 });
    try {
      await other`SELECT pg_notify('secarc_test', 'hello')`;
      for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(heard).to.deep.equal(["hello"]);
    } finally {
      await listening.unlisten();
      await other.end({ timeout: 5 });
    }
  });
});
