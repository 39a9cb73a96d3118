import { expect } from "chai";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { newId } from "../../common/ids.js";
import { ALLOW_DURATION_MS, decodeCallback, encodeCallback, MAX_CALLBACK_BYTES, type CallbackCommand } from "./callback-data.js";

describe("telegram callback data", () => {
  const uuid = newId();
  const ulid = "01JDQ5Z8K3M4N5P6Q7R8S9T0VW";

  it("round-trips every command type with UUID and ULID ids within 64 bytes", () => {
    const commands: CallbackCommand[] = [
      { type: "answer", alertId: uuid, answer: Answer.BLOCK_IP },
      { type: "answer", alertId: ulid, answer: Answer.KILL_PROCESS },
      { type: "confirm", alertId: uuid, answer: Answer.REBOOT },
      { type: "confirm", alertId: uuid, answer: Answer.SHUTDOWN },
      { type: "cancel", alertId: uuid },
      { type: "unblock", actionId: uuid },
      { type: "open", alertId: ulid },
      { type: "alerts", offset: 0 },
      { type: "alerts", offset: 25 },
      { type: "allow", alertId: uuid, duration: "1h" },
      { type: "allow", alertId: uuid, duration: "24h" },
      { type: "allow", alertId: ulid, duration: "always" },
      { type: "revoke", actionId: uuid },
      { type: "revoke", actionId: ulid },
      { type: "blockEverywhere", alertId: uuid },
      { type: "blockEverywhere", alertId: ulid },
      { type: "unblockEverywhere", fleetId: uuid },
    ];
    for (const command of commands) {
      const data = encodeCallback(command);
      expect(data, JSON.stringify(command)).to.be.a("string");
      expect(Buffer.byteLength(data!)).to.be.at.most(MAX_CALLBACK_BYTES);
      expect(data!.startsWith("1|")).to.equal(true);
      expect(decodeCallback(data)).to.deep.equal(command);
    }
  });

  it("keeps a UUID compact (base64url, not 36 characters)", () => {
    const data = encodeCallback({ type: "answer", alertId: uuid, answer: Answer.BLOCK_IP })!;
    expect(data).to.not.include(uuid);
    expect(data.length).to.equal("1|a|".length + 23 + "|4".length);
  });

  it("codes Allow durations in one character and maps them to 1 h, 24 h and until revoked (0)", () => {
    const data = encodeCallback({ type: "allow", alertId: uuid, duration: "always" })!;
    expect(data).to.match(/^1\|l\|~[A-Za-z0-9_-]{22}\|a$/);
    expect(encodeCallback({ type: "allow", alertId: uuid, duration: "1h" })!.endsWith("|h")).to.equal(true);
    expect(encodeCallback({ type: "allow", alertId: uuid, duration: "24h" })!.endsWith("|d")).to.equal(true);
    expect(ALLOW_DURATION_MS).to.deep.equal({ "1h": 3_600_000, "24h": 86_400_000, always: 0 });
    // The first tap on Allow is a plain answer (messages rendered before durations existed keep working).
    expect(decodeCallback(encodeCallback({ type: "answer", alertId: uuid, answer: Answer.ALLOW }))).to.deep.equal({ type: "answer", alertId: uuid, answer: Answer.ALLOW });
  });

  it("refuses ids that cannot fit or contain separators", () => {
    expect(encodeCallback({ type: "open", alertId: "x".repeat(60) })).to.equal(undefined);
    expect(encodeCallback({ type: "open", alertId: "a|b" })).to.equal(undefined);
    expect(encodeCallback({ type: "open", alertId: "" })).to.equal(undefined);
  });

  it("refuses forged and garbled data", () => {
    const good = encodeCallback({ type: "answer", alertId: uuid, answer: Answer.BLOCK_IP })!;
    const id = good.split("|")[2]!;
    const bad: unknown[] = [
      undefined,
      42,
      "",
      "garbage",
      good.replace(/^1/, "2"),
      `1|a|${id}`,
      `1|a|${id}|0`,
      `1|a|${id}|99`,
      `1|a|${id}|4|extra`,
      `1|a|${id}|-4`,
      `1|a|${id}|4.0`,
      `1|a|${id}|${Answer.UNBLOCK_IP}`,
      `1|c|${id}|${Answer.BLOCK_IP}`,
      `1|z|${id}`,
      `1|x|${id}|4`,
      `1|a|~${"A".repeat(21)}|4`,
      `1|a|~${"A".repeat(21)}B|4`,
      `1|a|a b|4`,
      `1|u|${"x".repeat(70)}`,
      "1|a|<script>|4",
      "1|p|-1",
      "1|p|01",
      "1|p|1e3",
      "1|p|25|x",
      `1|a|${id}|${Answer.REVOKE_ALLOW}`,
      `1|c|${id}|${Answer.ALLOW}`,
      `1|l|${id}`,
      `1|l|${id}|`,
      `1|l|${id}|x`,
      `1|l|${id}|1h`,
      `1|l|${id}|H`,
      `1|l|${id}|h|extra`,
      `1|l|${id}|constructor`,
      `1|l|${id}|__proto__`,
      `1|r|${id}|h`,
      `1|r|a b`,
      `1|r|${"x".repeat(60)}`,
    ];
    for (const data of bad) expect(decodeCallback(data), String(data)).to.equal(undefined);
  });
});
