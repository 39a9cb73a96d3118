import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { loadTicketSecret, startTicketKeyRotation, ticketKeysFor } from "./ticket-keys.js";

describe("TLS ticket keys", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "secarc-ticket-keys-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("creates a 32-byte secret with mode 0600 once, and reads the same secret again", () => {
    const path = join(dir, "tickets.key");
    const secret = loadTicketSecret(path);
    expect(secret).to.have.length(32);
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(loadTicketSecret(path).equals(secret)).to.equal(true);
  });

  it("refuses a file others may read, or one of the wrong length", () => {
    const open = join(dir, "open.key");
    writeFileSync(open, Buffer.alloc(32, 1));
    chmodSync(open, 0o644);
    expect(() => loadTicketSecret(open)).to.throw(/readable by group or others.*chmod 600/);
    const short = join(dir, "short.key");
    writeFileSync(short, Buffer.alloc(16, 1), { mode: 0o600 });
    expect(() => loadTicketSecret(short)).to.throw(/holds 16 bytes, not 32/);
  });

  it("derives the same 48 bytes from the same secret and period, other bytes for the next period", () => {
    const secret = Buffer.alloc(32, 7);
    expect(ticketKeysFor(secret, 5)).to.have.length(48);
    expect(ticketKeysFor(secret, 5).equals(ticketKeysFor(Buffer.from(secret), 5))).to.equal(true);
    expect(ticketKeysFor(secret, 5).equals(ticketKeysFor(secret, 6))).to.equal(false);
  });

  it("puts the current period's keys in force at start", () => {
    const applied: Buffer[] = [];
    const secret = Buffer.alloc(32, 3);
    const rotation = startTicketKeyRotation({ secret, periodMs: 1_000, now: () => 5_500, apply: (keys) => applied.push(keys) });
    rotation.stop();
    expect(applied).to.have.length(1);
    expect(applied[0]!.equals(ticketKeysFor(secret, 5))).to.equal(true);
  });

  it("reapply() puts the current period's keys in force again (after a new TLS context)", () => {
    const applied: Buffer[] = [];
    const secret = Buffer.alloc(32, 4);
    const rotation = startTicketKeyRotation({ secret, periodMs: 1_000, now: () => 7_200, apply: (keys) => applied.push(keys) });
    rotation.reapply();
    rotation.stop();
    expect(applied).to.have.length(2);
    expect(applied[1]!.equals(ticketKeysFor(secret, 7))).to.equal(true);
  });
});
