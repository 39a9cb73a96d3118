import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { ActionOptionsSchema, ActionResultSchema, Answer, OperatorSchema, ResultStatus } from "../../gen/secarc/v1/action_pb.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite-store.js";
import type { ActionRecord } from "../store/store.js";
import { createActionRequests } from "./action-requests.js";
import { createEventBus } from "./events.js";
import { createFleetBlocks, fleetActionId, type FleetBlocks } from "./fleet-blocks.js";

const operator = create(OperatorSchema, { telegramUserId: 7n, username: "ops" });
const BLOCKING = [Answer.BLOCK_IP, Answer.UNBLOCK_IP];

describe("createFleetBlocks", () => {
  let dir: string;
  let store: SqliteStore;
  let online: Set<string>;
  let sent: ActionRecord[];
  let fleet: FleetBlocks;
  let tick: number;

  const connect = async (agentId: string, extra: { actions?: Answer[]; fleetBlockOptOut?: boolean; addresses?: string[] } = {}): Promise<void> => {
    await store.agentConnected({ agentId, version: "1", hostname: `${agentId}.example`, addresses: extra.addresses ?? [], actions: extra.actions ?? BLOCKING, detectors: [], at: new Date(tick), fleetBlockOptOut: extra.fleetBlockOptOut ?? false });
    online.add(agentId);
  };
  const result = (agentId: string, actionId: string, status: ResultStatus, detail = ""): Promise<boolean> =>
    store.recordResult(agentId, create(ActionResultSchema, { actionId, status, detail }), new Date(tick));
  const states = async (fleetId: string): Promise<string[]> => ((await fleet.status(fleetId))?.members ?? []).map((m) => `${m.agentId}:${m.state}`);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "secarc-fleet-"));
    store = openSqliteStore(join(dir, "c.db"));
    online = new Set();
    sent = [];
    tick = 1_800_000_000_000;
    let ids = 0;
    const actions = createActionRequests({
      store,
      events: createEventBus(),
      now: () => tick,
      newId: () => `act-${++ids}`,
      controllerAddresses: () => [],
      delivery: {
        async deliver(action) {
          if (!online.has(action.agentId)) return false;
          sent.push(action);
          await store.markActionSent(action.actionId, new Date(tick));
          return true;
        },
      },
    });
    fleet = createFleetBlocks({ store, fleetStore: store.fleetBlocks, actions, now: () => tick, newId: () => "fleet-1" });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends one BLOCK_IP to each online agent, queues the offline one, skips the opted-out and the one that cannot block", async () => {
    await connect("web-1");
    await connect("web-2");
    await connect("db-1");
    await store.agentDisconnected("db-1", new Date(tick));
    online.delete("db-1");
    await connect("cache-1", { fleetBlockOptOut: true });
    await connect("mon-1", { actions: [Answer.IGNORE] });
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    expect(sent.map((a) => a.agentId).sort()).to.deep.equal(["web-1", "web-2"]);
    expect((await store.listUnfinishedActions("db-1")).map((a) => a.answer)).to.deep.equal([Answer.BLOCK_IP]);
    expect(await states(block.fleetId)).to.deep.equal(["cache-1:skipped", "db-1:queued", "mon-1:skipped", "web-1:sent", "web-2:sent"]);
    const status = await fleet.status(block.fleetId);
    expect(status?.members.find((m) => m.agentId === "cache-1")).to.deep.include({ detail: "opted_out" });
    expect(status?.members.find((m) => m.agentId === "mon-1")).to.deep.include({ detail: "cannot_block" });
  });

  it("reads each agent's result, first result winning; a refusal keeps the agent's reason", async () => {
    await connect("web-1");
    await connect("web-2");
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    const [a1, a2] = [sent[0]!, sent[1]!];
    expect(await result(a1.agentId, a1.actionId, ResultStatus.DONE)).to.equal(true);
    expect(await result(a1.agentId, a1.actionId, ResultStatus.FAILED)).to.equal(false);
    await result(a2.agentId, a2.actionId, ResultStatus.REFUSED, "allowed until 14:00");
    const status = await fleet.status(block.fleetId);
    expect(status?.members.map((m) => m.state)).to.deep.equal(["blocked", "refused"]);
    expect(status?.members[1]).to.deep.include({ detail: "allowed until 14:00" });
    expect(await fleet.fleetOfAction(a1.actionId)).to.equal(block.fleetId);
  });

  it("gives an agent that joins while the block is active the block once, however often it connects", async () => {
    await connect("web-1");
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    await connect("new-1");
    await fleet.agentConnected("new-1");
    await fleet.agentConnected("new-1");
    await fleet.agentConnected("web-1");
    expect(sent.map((a) => a.agentId)).to.deep.equal(["web-1", "new-1"]);
    expect(sent[1]?.operator.username).to.equal("ops");
    expect(await states(block.fleetId)).to.deep.equal(["new-1:sent", "web-1:sent"]);
  });

  it("refuses per agent what the controller refuses (the agent's own address) and blocks on the others", async () => {
    await connect("web-1", { addresses: ["203.0.113.7"] });
    await connect("web-2");
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    expect(sent.map((a) => a.agentId)).to.deep.equal(["web-2"]);
    const member = (await fleet.status(block.fleetId))?.members[0];
    expect(member?.state).to.equal("skipped");
    expect(member && "detail" in member ? member.detail : "").to.match(/BLOCK_IP refused/);
  });

  it("lifts once: UNBLOCK_IP to every agent sent the BLOCK_IP (queued for an offline one), none for the skipped", async () => {
    await connect("web-1");
    await connect("web-2", { fleetBlockOptOut: true });
    await connect("db-1");
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    await store.agentDisconnected("db-1", new Date(tick));
    online.delete("db-1");
    expect(await fleet.lift(block.fleetId, operator, "telegram:7 (@ops)")).to.equal(true);
    expect(await fleet.lift(block.fleetId, operator, "telegram:7 (@ops)")).to.equal(false);
    const unblocks = sent.filter((a) => a.answer === Answer.UNBLOCK_IP);
    expect(unblocks.map((a) => a.agentId)).to.deep.equal(["web-1"]);
    expect((await store.listUnfinishedActions("db-1")).map((a) => a.answer)).to.deep.equal([Answer.BLOCK_IP, Answer.UNBLOCK_IP]);
    await result("web-1", unblocks[0]!.actionId, ResultStatus.DONE);
    expect(await states(block.fleetId)).to.deep.equal(["db-1:lifting", "web-1:lifted", "web-2:skipped"]);
    expect(await fleet.listActive()).to.deep.equal([]);
    await connect("late-1");
    await fleet.agentConnected("late-1");
    expect(sent.filter((a) => a.agentId === "late-1")).to.deep.equal([]);
  });

  it("gives a joiner what is left of the block's time; once the time is over the block is no longer in force and nobody joins it", async () => {
    await connect("web-1");
    const day = 86_400_000;
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)", options: create(ActionOptionsSchema, { duration: durationFromMs(day) }) });
    expect(block.expiresAt).to.equal(tick + day);
    tick += 3_600_000;
    await connect("new-1");
    await fleet.agentConnected("new-1");
    const joined = sent.find((a) => a.agentId === "new-1");
    expect(joined?.options?.duration ? durationMs(joined.options.duration) : undefined).to.equal(day - 3_600_000);
    tick = block.expiresAt! + 1;
    expect(await fleet.listActive()).to.deep.equal([]);
    await connect("late-1");
    await fleet.agentConnected("late-1");
    expect(sent.filter((a) => a.agentId === "late-1")).to.deep.equal([]);
  });

  it("requests, after a stop between claim and request, each claimed part once: the stored action is taken up, a missing one is requested", async () => {
    await connect("web-1");
    await connect("web-2");
    await connect("web-3");
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    // As a stop would leave them: web-2 claimed, nothing requested; web-3 claimed, its action stored, the member row not yet updated.
    const fleetStore = store.fleetBlocks;
    for (const agentId of ["web-2", "web-3"]) await fleetStore.setMember({ fleetId: block.fleetId, agentId });
    store.db.prepare("DELETE FROM actions WHERE agent_id = ?").run("web-2");
    const before = sent.length;
    expect(await states(block.fleetId)).to.deep.equal(["web-1:sent", "web-2:sent", "web-3:sent"]);
    await fleet.recover();
    await fleet.recover();
    const again = sent.slice(before);
    expect(again.map((a) => [a.agentId, a.actionId])).to.deep.equal([["web-2", fleetActionId(block.fleetId, "web-2", Answer.BLOCK_IP)]]);
    const members = await fleetStore.listMembers(block.fleetId);
    expect(members.map((m) => m.actionId)).to.deep.equal(["web-1", "web-2", "web-3"].map((id) => fleetActionId(block.fleetId, id, Answer.BLOCK_IP)));
    expect(new Set(members.map((m) => m.actionId)).size).to.equal(3);
  });

  it("sends, after a stop in the middle of Unblock everywhere, the UNBLOCK_IPs not yet requested, once", async () => {
    await connect("web-1");
    await connect("web-2");
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    // As a stop right after the lift was stored would leave it: lifted, no UNBLOCK_IP requested.
    const fleetStore = store.fleetBlocks;
    expect(await fleetStore.liftFleetBlock(block.fleetId, new Date(tick), "telegram:7 (@ops)")).to.equal(true);
    expect(await fleet.lift(block.fleetId, operator, "telegram:7 (@ops)")).to.equal(false);
    await fleet.recover();
    await fleet.recover();
    const unblocks = sent.filter((a) => a.answer === Answer.UNBLOCK_IP);
    expect(unblocks.map((a) => [a.agentId, a.actionId, a.operator.username])).to.deep.equal(["web-1", "web-2"].map((id) => [id, fleetActionId(block.fleetId, id, Answer.UNBLOCK_IP), "ops"]));
    expect(await fleetStore.listLiftedUnfinished()).to.deep.equal([]);
    expect(await states(block.fleetId)).to.deep.equal(["web-1:lifting", "web-2:lifting"]);
  });

  it("finds the fleet block of an UNBLOCK_IP after a restart (no memory of the lift)", async () => {
    await connect("web-1");
    const block = await fleet.block({ ip: "203.0.113.7", operator, requestedBy: "telegram:7 (@ops)" });
    await fleet.lift(block.fleetId, operator, "telegram:7 (@ops)");
    const unblock = sent.find((a) => a.answer === Answer.UNBLOCK_IP)!;
    const restarted = createFleetBlocks({ store, fleetStore: store.fleetBlocks, actions: { request: async () => ({ ok: false, reason: "unknown_agent", detail: "" }) } });
    expect(await restarted.fleetOfAction(unblock.actionId)).to.equal(block.fleetId);
  });
});
