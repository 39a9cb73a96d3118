import { createServer } from "node:net";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import postgres from "postgres";
import { isSecarcError } from "../../common/errors.js";
import { ActionResultSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { startPgCluster, type PgCluster } from "../../test/support/postgres.js";
import { coreMigrations } from "./core-schema.js";
import { postgresCoreMigrations } from "./postgres-schema.js";
import { isStorageError, storageTrouble } from "./storage-errors.js";
import { openPostgresStore, redactUrl, type PostgresStore } from "./postgres-store.js";

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

  it("keeps the revision rules when two replicas store one alert at once: the highest revision wins", async () => {
    const [a, b] = [await openStore(), await openStore()];
    await a.upsertAlert("web-1", alert("x1", 1), at(0));
    const writes = [];
    for (let revision = 2; revision <= 21; revision++) writes.push((revision % 2 ? a : b).upsertAlert("web-1", alert("x1", revision), at(revision)));
    const outcomes = (await Promise.all(writes)).map((w) => w.outcome);
    expect(outcomes.every((o) => o === "updated" || o === "unchanged")).to.equal(true);
    const stored = await a.getAlert("x1");
    expect(stored?.alert.revision).to.equal(21);
    expect(stored?.version).to.equal(1 + outcomes.filter((o) => o === "updated").length);
    const refusal = await b.upsertAlert("db-1", alert("x1", 30), at(30)).catch((err: unknown) => err);
    expect(isSecarcError(refusal, "refused"), String(refusal)).to.equal(true);
  });

  it("stores an action's first result only, when results race from two replicas", async () => {
    const [a, b] = [await openStore(), await openStore()];
    await a.upsertAlert("web-1", alert("x1", 1), at(0));
    await a.createAction({
      actionId: "act-1", agentId: "web-1", alertId: "x1", answer: Answer.BLOCK_IP, operator: create(OperatorSchema, { telegramUserId: 7n }),
      requestedAt: at(1), options: undefined, target: undefined,
    });
    await b.markActionSent("act-1", at(2));
    const result = (status: ResultStatus, detail: string) => create(ActionResultSchema, { actionId: "act-1", status, detail, networks: [`2001:db8::/${60 + status}`] });
    const won = await Promise.all([
      a.recordResult("web-1", result(ResultStatus.DONE, "blocked"), at(3)),
      b.recordResult("web-1", result(ResultStatus.FAILED, "nft failed"), at(3)),
      a.recordResult("web-1", result(ResultStatus.REFUSED, "no"), at(3)),
    ]);
    expect(won.filter(Boolean)).to.have.length(1);
    const action = await b.getAction("act-1");
    const winner = ["done", "failed", "refused"][won.indexOf(true)];
    expect(action?.state).to.equal(winner);
    // the winner's networks (ActionResult.networks) are stored with it
    expect(action?.networks).to.deep.equal([`2001:db8::/${60 + [ResultStatus.DONE, ResultStatus.FAILED, ResultStatus.REFUSED][won.indexOf(true)]!}`]);
    expect(await a.recordResult("other-agent", result(ResultStatus.DONE, "x"), at(4))).to.equal(false);
    // created, sent, one result: three changes to the alert's views.
    expect((await a.getAlert("x1"))?.version).to.equal(4);
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

  it("keeps each agent's labels and fleet-block opt-out from its last Hello", async () => {
    const store = await openStore();
    const base = { version: "1", hostname: "db", addresses: [], actions: [], detectors: [] };
    expect(await store.agentConnected({ ...base, agentId: "db-1", at: at(0) })).to.deep.include({ labels: {}, fleetBlockOptOut: false });
    await store.agentConnected({ ...base, agentId: "db-1", at: at(1), labels: { env: "prod", team: "db" }, fleetBlockOptOut: true });
    expect(await store.getAgent("db-1")).to.deep.include({ labels: { env: "prod", team: "db" }, fleetBlockOptOut: true });
    await store.agentConnected({ ...base, agentId: "db-1", at: at(2), labels: { team: "web" } });
    expect((await store.listAgents())[0]).to.deep.include({ labels: { team: "web" }, fleetBlockOptOut: false });
  });

  it("keeps each agent's host facts from its last Hello; a Hello without them clears them", async () => {
    const store = await openStore();
    const host = { osName: "Debian GNU/Linux", osVersion: "12 (bookworm)", kernel: "6.1.0-18-amd64", architecture: "x64", bootedAt: at(-7_200_000), memoryTotalBytes: 8 * 1024 ** 3, cpuModel: "AMD EPYC", cpuCores: 2, cpuPhysicalCores: 2, machine: "KVM" };
    const base = { agentId: "db-2", version: "1", hostname: "db", addresses: [], actions: [], detectors: [] };
    expect((await store.agentConnected({ ...base, at: at(0) })).hostFacts).to.equal(undefined);
    await store.agentConnected({ ...base, at: at(1), hostFacts: host });
    expect((await store.getAgent("db-2"))!.hostFacts).to.deep.equal(host);
    await store.agentConnected({ ...base, at: at(2) });
    expect((await store.getAgent("db-2"))!.hostFacts).to.equal(undefined);
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

describe("PostgreSQL store transactions (real PostgreSQL)", function () {
  this.timeout(120_000);
  let cluster: PgCluster;
  let store: PostgresStore;
  before(async () => {
    cluster = await startPgCluster();
    store = await openPostgresStore({ url: await cluster.createDatabase(), poolSize: 2 });
  });
  after(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it("commits together; a failing step undoes only itself; a rejected transaction leaves nothing", async () => {
    await store.transaction(async (tx) => {
      await tx.upsertAlert("web-1", alert("t1", 1), at(0));
      const refused = await tx.upsertAlert("db-1", alert("t1", 2), at(1)).catch((err: unknown) => err);
      expect(isSecarcError(refused, "refused")).to.equal(true);
      await tx.upsertAlert("web-1", alert("t2", 1), at(2));
    });
    expect((await store.listOpenAlerts(10)).map((a) => a.alertId)).to.deep.equal(["t2", "t1"]);
    const failed = await store
      .transaction(async (tx) => {
        await tx.upsertAlert("web-1", alert("t3", 1), at(3));
        throw new Error("stop");
      })
      .catch((err: unknown) => err);
    expect(String(failed)).to.include("stop");
    expect(await store.getAlert("t3")).to.equal(undefined);
  });
});
