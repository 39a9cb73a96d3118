import { timestampMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { eventually } from "./support/agent-process.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { useReplicaFleet } from "./support/replica-fleet.js";

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
  const clients: RawAgentClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  const fleets = useReplicaFleet("secarc-failover-");

  it("an agent back on B within the grace is not paged; one that stays away is paged once, counted from the failover", async () => {
    const fleet = await fleets.create("failover");
    const link = { offlineAlertAfter: `${GRACE_MS}ms` };
    const a = await fleet.startProcess("a", { link });
    await eventually("A holds the Telegram lease", async () => (await fleet.leaseHolder()) !== undefined, 20_000);
    const b = await fleet.startInProcess("b", { link });
    const connect = async (agentId: string, to: number) => {
      const client = connectRawAgent({ port: to, ca: fleets.pki.ca, ...(await fleets.pki.issueAgent(agentId)) });
      clients.push(client);
      client.hello(hello(agentId));
      await client.waitFor((m) => m.payload.case === "welcome", 20_000);
      return client;
    };
    await connect("back-soon", a.port);
    await connect("gone", a.port);

    const killedAt = Date.now();
    a.process.kill("SIGKILL");
    await a.process.stopped;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await connect("back-soon", b.port);

    const offline = async () => (await b.store.listOpenAlertsOfKind(AlertKind.AGENT_OFFLINE)).map((r) => r.alert);
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
    const [row] = await fleet.db<Array<{ online: number }>>`SELECT online FROM agents WHERE agent_id = 'back-soon'`;
    expect(row?.online).to.equal(1);
  });
});
