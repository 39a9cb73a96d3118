import { expect } from "chai";
import { TelegramError } from "telegraf";
import { backoffMs, classifySendError, reconnectBackoffMs, toSecarcError } from "./telegram-errors.js";

function tgError(code: number, description: string, parameters?: Record<string, unknown>) {
  return new TelegramError({ ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) } as never);
}

describe("telegram error classification", () => {
  it("reads retry_after from a 429", () => {
    expect(classifySendError(tgError(429, "Too Many Requests: retry after 7", { retry_after: 7 }))).to.deep.equal({ type: "rate_limited", retryAfterMs: 7_000 });
    expect(classifySendError(tgError(429, "Too Many Requests"))).to.deep.equal({ type: "rate_limited", retryAfterMs: 5_000 });
  });

  it("treats network errors and 5xx as transient, and says they are retryable", () => {
    const network = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { name: "FetchError", code: "ECONNREFUSED" });
    expect(classifySendError(network)).to.deep.equal({ type: "transient" });
    expect(classifySendError(tgError(502, "Bad Gateway"))).to.deep.equal({ type: "transient" });
    expect(toSecarcError(network, "send").retryable).to.equal(true);
    expect(toSecarcError(tgError(403, "Forbidden: bot was blocked by the user"), "send").retryable).to.equal(false);
  });

  it("recognises 'not modified', a vanished message and a refused chat; other bad requests are permanent", () => {
    expect(classifySendError(tgError(400, "Bad Request: message is not modified: specified new message content"))).to.deep.equal({ type: "not_modified" });
    expect(classifySendError(tgError(400, "Bad Request: message to edit not found"))).to.deep.equal({ type: "message_gone" });
    expect(classifySendError(tgError(400, "Bad Request: chat not found"))).to.deep.equal({ type: "chat_unreachable" });
    expect(classifySendError(tgError(403, "Forbidden: bot was blocked by the user"))).to.deep.equal({ type: "chat_unreachable" });
    expect(classifySendError(tgError(403, "Forbidden: bot was kicked from the supergroup chat"))).to.deep.equal({ type: "chat_unreachable" });
    expect(classifySendError(tgError(400, "Bad Request: not enough rights to send text messages to the chat"))).to.deep.equal({ type: "chat_unreachable" });
    expect(classifySendError(tgError(400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3"))).to.deep.equal({ type: "permanent" });
  });

  it("backs off exponentially up to a minute", () => {
    expect([0, 1, 2, 5, 6, 20].map(backoffMs)).to.deep.equal([1_000, 2_000, 4_000, 32_000, 60_000, 60_000]);
  });

  it("tells a refused token (401) apart: retryable once the token is fixed, never a dropped job", () => {
    expect(classifySendError(tgError(401, "Unauthorized"))).to.deep.equal({ type: "unauthorized" });
    expect(toSecarcError(tgError(401, "Unauthorized"), "send").retryable).to.equal(true);
  });

  it("backs off reaching the Bot API exponentially up to 5 minutes", () => {
    expect([0, 1, 4, 8, 9, 30].map(reconnectBackoffMs)).to.deep.equal([1_000, 2_000, 16_000, 256_000, 300_000, 300_000]);
  });
});
