import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import postgres from "postgres";
import { silentLogger } from "../common/log.js";
import { startController, type RunningController } from "../controller/controller.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { eventually, freeLoopbackPort } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";

const GRACE_MS = 5_000;
const hello = (agentId: string) => ({ agentId, agentVersion: "test", hostname: `${agentId}.example`, actions: [Answer.BLOCK_IP], detectors: [1], finishedActionIds: [] });

/**
 * Issue 15 item 6: replica A (holding the Telegram lease and two agents)
 * is killed with SIGKILL. One agent reconnects to replica B within
 * offlineAlertAfter and is never reported offline; the other stays away
 * and is reported once, by B, offlineAlertAfter after the failover (not
 * after its last message to A, and not never: A never recorded it offline).
 */
describe("replicas on PostgreSQL: failover without false pages", function () {
  this.timeout(180_000);
  let cluster: PgCluster;
  let pki: TestPki;
  let dir: string;
  let db: postgres.Sql | undefined;
  let a: ControllerProcess | undefined;
  let b: RunningController | undefined;
  const clients: RawAgentClient[] = [];

  before(async () => {
    cluster = await startPgCluster();
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-failover-"));
  });
  after(async () => {
    for (const c of clients) c.close();
    a?.kill("SIGKILL");
    await a?.stopped;
    await b?.close();
    await db?.end({ timeout: 5 });
    await cluster?.stop();
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an agent back on B within the grace is not paged; one that stays away is paged once, counted from the failover", async () => {
    const url = await cluster.createDatabase("failover");
    db = postgres(url, { max: 1, onnotice: () => {} });
    const store = { postgres: { url, poolSize: 4 } };
    const link = { offlineAlertAfter: `${GRACE_MS}ms` };
    const port = await freeLoopbackPort();
    a = await startControllerProcess({
      config: { listen: { host: "127.0.0.1", port }, tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key }, store, link, admin: { socket: join(dir, "a.sock") }, log: { level: "warn" } },
    });
    await eventually("A holds the Telegram lease", async () => (await db!`SELECT 1 FROM leases WHERE name = 'telegram'`).length === 1, 20_000);
    b = await startController({ config: testControllerConfig(pki, dir, { store, link, admin: { socket: join(dir, "b.sock") } }), logger: silentLogger() });
    const connect = async (agentId: string, to: number) => {
      const client = connectRawAgent({ port: to, ca: pki.ca, ...(await pki.issueAgent(agentId)) });
      clients.push(client);
      client.hello(hello(agentId));
      await client.waitFor((m) => m.payload.case === "welcome", 20_000);
      return client;
    };
    await connect("back-soon", port);
    await connect("gone", port);

    const killedAt = Date.now();
    a.kill("SIGKILL");
    await a.stopped;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await connect("back-soon", b.port);

    const offline = async () => (await b!.store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE)).map((r) => r.alert);
    await eventually("B pages the agent that stayed away", async () => (await offline()).length > 0, 90_000);
    const [paged] = await offline();
    const pagedAt = Date.now();
    expect(paged!.subject.case === "agentOffline" && paged!.subject.value.agentId).to.equal("gone");
    const since = paged!.subject.case === "agentOffline" && paged!.subject.value.offlineSince ? timestampMs(paged!.subject.value.offlineSince) : 0;
    // Offline as of the failover: A's death was seen no earlier than its last heartbeat plus the 15 s death time.
    expect(since - killedAt, "offline since the failover, not the last message").to.be.above(10_000);
    expect(pagedAt - since).to.be.at.least(GRACE_MS - 100);
    await new Promise((resolve) => setTimeout(resolve, 2 * GRACE_MS));
    const after = await offline();
    expect(after.map((alert) => (alert.subject.case === "agentOffline" ? alert.subject.value.agentId : "?"))).to.deep.equal(["gone"]);
    const [row] = await db<Array<{ online: number }>>`SELECT online FROM agents WHERE agent_id = 'back-soon'`;
    expect(row?.online).to.equal(1);
  });
});
