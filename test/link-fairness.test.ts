import { expect } from "chai";
import { silentLogger } from "../common/log.js";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { eventually } from "./support/agent-process.js";
import { sshAlert, startControllerHarness, type ControllerHarness } from "./support/controller-harness.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";

const FLOOD = 5_000;
const QUIET = 100;
const isAck = (m: ControllerMessage) => m.payload.case === "alertAck";
const acksOf = (client: RawAgentClient) => client.received.filter(isAck).length;

/**
 * Issue 17 acceptance 3: one agent floods the controller while another
 * sends 100 alerts; none of the second agent's alerts waits behind the
 * whole flood (the link's group commit gives every agent its share of each
 * transaction). Asserted by order, not by time: the quiet agent's last ack
 * arrives while most of the flood is still unacknowledged. Real controller,
 * real mutual TLS on loopback, real SQLite (synchronous FULL).
 */
describe("link: fair share per agent under a flood", function () {
  this.timeout(360_000);
  let h: ControllerHarness;
  const clients: RawAgentClient[] = [];

  beforeEach(async () => {
    h = await startControllerHarness({}, { logger: silentLogger() });
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await h.cleanup();
  });

  async function connect(name: string): Promise<RawAgentClient> {
    const client = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...(await h.pki.issueAgent(name)) });
    clients.push(client);
    client.hello({ agentId: name, agentVersion: "test", hostname: name, actions: [Answer.ALLOW] });
    await client.waitFor((m) => m.payload.case === "welcome", 15_000);
    return client;
  }

  it("acks all 100 alerts of a quiet agent before a flood of 5,000 from another agent is half acked", async () => {
    const flooder = await connect("flooder");
    const quiet = await connect("quiet");
    for (let i = 0; i < FLOOD; i += 1) flooder.send({ payload: { case: "alert", value: sshAlert() } });
    // The flood is being stored: its first acks are out.
    await flooder.waitFor(isAck, 60_000);
    const floodAckedBefore = acksOf(flooder);
    const quietIds = new Set<string>();
    for (let i = 0; i < QUIET; i += 1) {
      const alert = sshAlert();
      quietIds.add(alert.id);
      quiet.send({ payload: { case: "alert", value: alert } });
    }
    await eventually("the quiet agent's acks", () => acksOf(quiet) >= QUIET, 60_000);
    const floodAckedMeanwhile = acksOf(flooder) - floodAckedBefore;

    const quietAcked = new Set(quiet.received.filter(isAck).map((m) => (m.payload.value as { alertId: string }).alertId));
    expect(quietAcked).to.deep.equal(quietIds);
    expect(floodAckedBefore + floodAckedMeanwhile, "the quiet agent's alerts waited behind the whole flood").to.be.below(FLOOD);
    expect(floodAckedMeanwhile, "flood alerts acked while the quiet agent's 100 waited").to.be.below(FLOOD / 2);
    // The flood itself is stored and acked in full.
    await eventually("the flood's acks", () => acksOf(flooder) >= FLOOD, 240_000);
    expect(await h.controller.store.listOpenAlerts(FLOOD + QUIET + 10)).to.have.length(FLOOD + QUIET);
  });
});
