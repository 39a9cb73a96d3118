import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { ActionTargetSchema, Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord, ActionState } from "../store/store.js";
import { activeBlocks } from "./active-blocks.js";

let n = 0;
function action(answer: Answer, ip: string, state: ActionState, finishedAt: number, expiresAt?: number, agentId = "web-1"): ActionRecord {
  n += 1;
  return {
    actionId: `a${n}`,
    agentId,
    alertId: undefined,
    answer,
    operator: create(OperatorSchema, { username: "op" }),
    requestedAt: new Date(finishedAt - 10),
    options: undefined,
    target: create(ActionTargetSchema, { target: { case: "ip", value: ip } }),
    state,
    sentAt: undefined,
    resultStatus: undefined,
    detail: "",
    dryRun: false,
    finishedAt: new Date(finishedAt),
    expiresAt: expiresAt === undefined ? undefined : new Date(expiresAt),
  };
}

describe("telegram active blocks", () => {
  const now = 1_000_000;

  it("lists done blocks that have not expired, per server and address", () => {
    const blocks = activeBlocks(
      [
        action(Answer.BLOCK_IP, "198.51.100.23", "done", now - 100, now + 1000),
        action(Answer.BLOCK_IP, "198.51.100.23", "done", now - 50, now + 1000, "db-1"),
        action(Answer.BLOCK_IP, "203.0.113.7", "done", now - 100),
      ],
      now,
    );
    expect(blocks.map((b) => `${b.agentId} ${b.ip} ${b.expiresAt ? "timed" : "forever"}`)).to.deep.equal(["db-1 198.51.100.23 timed", "web-1 198.51.100.23 timed", "web-1 203.0.113.7 forever"]);
  });

  it("leaves out expired, failed, pending and unblocked ones", () => {
    const blocks = activeBlocks(
      [
        action(Answer.BLOCK_IP, "192.0.2.1", "done", now - 100, now - 1),
        action(Answer.BLOCK_IP, "192.0.2.2", "failed", now - 100),
        action(Answer.BLOCK_IP, "192.0.2.3", "pending", now - 100),
        action(Answer.BLOCK_IP, "192.0.2.4", "done", now - 100),
        action(Answer.UNBLOCK_IP, "192.0.2.4", "done", now - 50),
        action(Answer.BLOCK_IP, "192.0.2.5", "done", now - 100),
        action(Answer.UNBLOCK_IP, "192.0.2.5", "failed", now - 50),
        action(Answer.UNBLOCK_IP, "192.0.2.5", "done", now - 50, undefined, "db-1"),
      ],
      now,
    );
    expect(blocks.map((b) => b.ip)).to.deep.equal(["192.0.2.5"]);
  });

  it("a block after an unblock is active again, shown once", () => {
    const blocks = activeBlocks(
      [
        action(Answer.BLOCK_IP, "192.0.2.9", "done", now - 300),
        action(Answer.UNBLOCK_IP, "192.0.2.9", "done", now - 200),
        action(Answer.BLOCK_IP, "192.0.2.9", "done", now - 100),
        action(Answer.BLOCK_IP, "192.0.2.9", "done", now - 400),
      ],
      now,
    );
    expect(blocks).to.have.length(1);
    expect(blocks[0]!.action.finishedAt!.getTime()).to.equal(now - 100);
  });

  it("a prefix block is one row named by its network; an unblock of any address in it lifts it", () => {
    const withNetworks = (record: ActionRecord, networks: string[]): ActionRecord => ({ ...record, networks });
    const first = withNetworks(action(Answer.BLOCK_IP, "2001:db8:1:2::7", "done", now - 300), ["2001:db8:1:2::/64"]);
    const second = withNetworks(action(Answer.BLOCK_IP, "2001:db8:1:2::99", "done", now - 200), ["2001:db8:1:2::/64"]);
    const blocks = activeBlocks([first, second], now);
    expect(blocks.map((b) => [b.ip, b.blocked])).to.deep.equal([["2001:db8:1:2::99", "2001:db8:1:2::/64"]]);
    const unblock = withNetworks(action(Answer.UNBLOCK_IP, "2001:db8:1:2::7", "done", now - 100), ["2001:db8:1:2::/64"]);
    expect(activeBlocks([first, second, unblock], now)).to.deep.equal([]);
    // A block without networks (an older agent) is named by its address, as before.
    expect(activeBlocks([action(Answer.BLOCK_IP, "198.51.100.9", "done", now - 10)], now)[0]!.blocked).to.equal("198.51.100.9");
  });
});
