import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { Telegram, TelegramError } from "telegraf";
import { withDeadline } from "./call-deadline.js";
import { backoffMs, classifySendError, errorCodes, mayHaveArrived, reconnectBackoffMs, toSecarcError } from "./telegram-errors.js";

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

  describe("whether a failed call may have been carried out (real calls through telegraf on loopback)", () => {
    let server: Server | undefined;
    afterEach(async () => {
      server?.closeAllConnections();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      server = undefined;
    });
    /** A Bot API stand-in that reads the whole request, then does `answer` with it. */
    async function botApi(answer: (res: ServerResponse) => void): Promise<string> {
      server = createServer((req, res) => {
        req.resume();
        req.on("end", () => answer(res));
      });
      await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    const send = (apiRoot: string, timeoutMs = 5_000) =>
      withDeadline(timeoutMs, "sendMessage", (signal) => new Telegram("1:t", { apiRoot }).callApi("sendMessage", { chat_id: 1, text: "x" }, { signal: signal as never })).then(
        () => expect.fail("the call succeeded"),
        (err: unknown) => err,
      );

    it("no: the connection was refused, or Telegram answered 4xx", async () => {
      // A port just listened on and closed again: nothing accepts there.
      const closed = await botApi(() => {});
      await new Promise((resolve) => server!.close(resolve));
      const refused = await send(closed);
      expect(errorCodes(refused), String(refused)).to.deep.equal(["ECONNREFUSED"]);
      expect(mayHaveArrived(refused)).to.equal(false);
      const apiRoot = await botApi((res) => res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ ok: false, error_code: 400, description: "Bad Request: chat not found" })));
      expect(mayHaveArrived(await send(apiRoot))).to.equal(false);
    });

    it("yes: no answer within the deadline, a connection dropped after the request, or a 5xx", async () => {
      expect(mayHaveArrived(await send(await botApi(() => {}), 300))).to.equal(true);
      await new Promise((resolve) => server!.close(resolve));
      expect(mayHaveArrived(await send(await botApi((res) => res.socket?.destroy())))).to.equal(true);
      await new Promise((resolve) => server!.close(resolve));
      const bad = await send(await botApi((res) => res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ ok: false, error_code: 502, description: "Bad Gateway" }))));
      expect(classifySendError(bad)).to.deep.equal({ type: "transient" });
      expect(mayHaveArrived(bad)).to.equal(true);
    });
  });
});
