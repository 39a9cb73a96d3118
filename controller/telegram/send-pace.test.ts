import { expect } from "chai";
import { createSendPace } from "./send-pace.js";

describe("telegram send pace", () => {
  const limits = { perChatMs: 1000, perGroupPerMinute: 20, globalPerSecond: 30 };

  it("spaces messages to one chat by perChat, other chats are independent", () => {
    const pace = createSendPace(limits);
    expect(pace.nextAllowed(5, 10_000)).to.equal(10_000);
    pace.record(5, 10_000);
    expect(pace.nextAllowed(5, 10_100)).to.equal(11_000);
    expect(pace.nextAllowed(6, 10_100)).to.equal(10_100);
    expect(pace.nextAllowed(5, 11_500)).to.equal(11_500);
  });

  it("allows a group 20 messages per minute", () => {
    const pace = createSendPace(limits);
    for (let i = 0; i < 20; i++) pace.record(-100, 1_000 * i);
    expect(pace.nextAllowed(-100, 20_000)).to.equal(60_000);
    // A private chat with the same history is only held by perChat.
    const other = createSendPace(limits);
    for (let i = 0; i < 20; i++) other.record(100, 1_000 * i);
    expect(other.nextAllowed(100, 20_000)).to.equal(20_000);
  });

  it("holds everything beyond 30 per second across chats", () => {
    const pace = createSendPace(limits);
    for (let i = 0; i < 30; i++) pace.record(i + 1, 5_000 + i);
    expect(pace.nextAllowed(999, 5_100)).to.equal(6_000);
    expect(pace.nextAllowed(999, 6_001)).to.equal(6_001);
  });

  it("pauses all chats until a 429's retry_after has passed", () => {
    const pace = createSendPace(limits);
    pace.pauseUntil(9_000);
    expect(pace.nextAllowed(1, 1_000)).to.equal(9_000);
    pace.pauseUntil(5_000);
    expect(pace.nextAllowed(2, 1_000)).to.equal(9_000);
  });
});
