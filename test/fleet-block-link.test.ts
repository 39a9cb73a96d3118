import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { Answer, OperatorSchema, ResultStatus, type ResponseAction } from "../gen/secarc/v1/action_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import type { SqliteStore } from "../controller/store/sqlite-store.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { startControllerHarness, testOperator, type ControllerHarness } from "./support/controller-harness.js";

const ACTIONS = [Answer.BLOCK_IP, Answer.UNBLOCK_IP];
const isAction = (m: ControllerMessage): boolean => m.payload.case === "responseAction";
const actionsOf = (c: RawAgentClient): ResponseAction[] => c.received.flatMap((m) => (m.payload.case === "responseAction" ? [m.payload.value] : []));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("block on all servers over the link (real mTLS, real SQLite)", function () {
  this.timeout(30_000);
  let h: ControllerHarness;
  const clients: RawAgentClient[] = [];
  const certs = new Map<string, { cert: string; key: string }>();

  async function connect(name: string, extra: { fleetBlockOptOut?: boolean } = {}): Promise<RawAgentClient> {
    if (!certs.has(name)) certs.set(name, await h.pki.issueAgent(name));
    const client = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...certs.get(name)! });
    clients.push(client);
    client.hello({ agentId: name, agentVersion: "test", hostname: `${name}.example`, actions: ACTIONS, detectors: [1], fleetBlockOptOut: extra.fleetBlockOptOut ?? false });
    await client.waitFor((m) => m.payload.case === "welcome");
    return client;
  }
  async function disconnect(client: RawAgentClient, name: string): Promise<void> {
    client.end();
    await client.ended;
    for (let i = 0; i < 100 && h.controller.onlineAgents().includes(name); i += 1) await pause(20);
  }
  function answer(client: RawAgentClient, action: ResponseAction, status: ResultStatus, detail: string): void {
    client.send({ payload: { case: "actionResult", value: { actionId: action.actionId, status, detail, finishedAt: timestampFromMs(Date.now()) } } });
  }
  async function statesOf(fleetId: string, expected: string[]): Promise<string[]> {
    let states: string[] = [];
    for (let i = 0; i < 150; i += 1) {
      states = ((await h.controller.fleetBlocks.status(fleetId))?.members ?? []).map((m) => `${m.agentId}:${m.state}`);
      if (JSON.stringify(states) === JSON.stringify(expected)) break;
      await pause(20);
    }
    return states;
  }

  beforeEach(async () => {
    h = await startControllerHarness();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await h.cleanup();
  });

  it("sends one BLOCK_IP to each online agent, the offline one's on reconnect, a joiner's once, none to an opted-out one; lifts everywhere", async () => {
    const web1 = await connect("web-1");
    const web2 = await connect("web-2");
    await connect("cache-1", { fleetBlockOptOut: true });
    await disconnect(await connect("db-1"), "db-1");
    const operator = create(OperatorSchema, testOperator);

    const block = await h.controller.fleetBlocks.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:1001 (@ops)" });
    const [a1, a2] = [await web1.waitFor(isAction), await web2.waitFor(isAction)].map((m) => (m.payload.case === "responseAction" ? m.payload.value : undefined));
    expect([a1?.answer, a1?.target?.target.value, a2?.answer]).to.deep.equal([Answer.BLOCK_IP, "203.0.113.7", Answer.BLOCK_IP]);
    expect(await statesOf(block.fleetId, ["cache-1:skipped", "db-1:queued", "web-1:sent", "web-2:sent"])).to.deep.equal(["cache-1:skipped", "db-1:queued", "web-1:sent", "web-2:sent"]);

    answer(web1, a1!, ResultStatus.DONE, "blocked");
    answer(web2, a2!, ResultStatus.REFUSED, "allowed until 14:00");
    answer(web1, a1!, ResultStatus.FAILED, "a later duplicate");
    expect(await statesOf(block.fleetId, ["cache-1:skipped", "db-1:queued", "web-1:blocked", "web-2:refused"])).to.deep.equal(["cache-1:skipped", "db-1:queued", "web-1:blocked", "web-2:refused"]);

    // The offline agent gets it when it comes back; a new agent gets it on its first connect; a reconnect after its result adds nothing.
    const db1 = await connect("db-1");
    const d1 = await db1.waitFor(isAction);
    const joiner = await connect("new-1");
    const j1 = await joiner.waitFor(isAction);
    if (j1.payload.case === "responseAction") answer(joiner, j1.payload.value, ResultStatus.DONE, "blocked");
    await joiner.waitFor((m) => m.payload.case === "resultAck");
    await disconnect(joiner, "new-1");
    const joinerAgain = await connect("new-1");
    await pause(300);
    expect(actionsOf(db1).map((a) => a.answer)).to.deep.equal([Answer.BLOCK_IP]);
    expect(actionsOf(joiner).map((a) => a.target?.target.value)).to.deep.equal(["203.0.113.7"]);
    expect(actionsOf(joinerAgain)).to.have.length(0);
    if (d1.payload.case === "responseAction") answer(db1, d1.payload.value, ResultStatus.DONE, "blocked");
    expect(await statesOf(block.fleetId, ["cache-1:skipped", "db-1:blocked", "new-1:blocked", "web-1:blocked", "web-2:refused"])).to.deep.equal(["cache-1:skipped", "db-1:blocked", "new-1:blocked", "web-1:blocked", "web-2:refused"]);
    const blockIps = (h.controller.store as SqliteStore).db.prepare("SELECT agent_id FROM actions WHERE answer = ? ORDER BY agent_id").all(Answer.BLOCK_IP) as Array<{ agent_id: string }>;
    expect(blockIps.map((r) => r.agent_id)).to.deep.equal(["db-1", "new-1", "web-1", "web-2"]);

    // Unblock everywhere: the agents that were sent the BLOCK_IP, refused or not; none to the opted-out one.
    expect(await h.controller.fleetBlocks.lift(block.fleetId, operator, "telegram:1001 (@ops)")).to.equal(true);
    for (const c of [web1, web2, db1, joinerAgain]) {
      const un = await c.waitFor((m) => m.payload.case === "responseAction" && m.payload.value.answer === Answer.UNBLOCK_IP);
      if (un.payload.case === "responseAction") answer(c, un.payload.value, ResultStatus.DONE, "unblocked");
    }
    expect(await statesOf(block.fleetId, ["cache-1:skipped", "db-1:lifted", "new-1:lifted", "web-1:lifted", "web-2:lifted"])).to.deep.equal(["cache-1:skipped", "db-1:lifted", "new-1:lifted", "web-1:lifted", "web-2:lifted"]);
    expect(await h.controller.fleetBlocks.listActive()).to.deep.equal([]);
  });
});
