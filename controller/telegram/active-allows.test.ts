import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ActionOptionsSchema, ActionTargetSchema, Answer, OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import type { ActionRecord, ActionState } from "../store/store.js";
import { activeAllows } from "./active-allows.js";
import { activeBlocks } from "./active-blocks.js";
import { allowKeyboard, answerLabel } from "./alert-message.js";
import { renderAllows } from "./allows-command.js";
import { decodeCallback, MAX_CALLBACK_BYTES } from "./callback-data.js";
import { en } from "./i18n/en.js";
import { es } from "./i18n/es.js";

const NOW = Date.parse("2026-11-29T14:02:00Z");
const HOUR = 3_600_000;

let n = 0;
function action(
  answer: Answer,
  ip: string,
  state: ActionState,
  finishedAt: number,
  fields: { expiresAt?: number; durationMs?: number; agentId?: string; username?: string; dryRun?: boolean } = {},
): ActionRecord {
  n += 1;
  return {
    actionId: `0192f0c8-0000-7000-8000-${String(n).padStart(12, "0")}`,
    agentId: fields.agentId ?? "web-1",
    alertId: undefined,
    answer,
    operator: create(OperatorSchema, { telegramUserId: 77n, username: fields.username ?? "op" }),
    requestedAt: new Date(finishedAt - 10),
    options: fields.durationMs === undefined ? undefined : create(ActionOptionsSchema, { duration: durationFromMs(fields.durationMs) }),
    target: create(ActionTargetSchema, { target: { case: "ip", value: ip } }),
    state,
    sentAt: undefined,
    resultStatus: undefined,
    detail: "",
    dryRun: fields.dryRun ?? false,
    finishedAt: new Date(finishedAt),
    expiresAt: fields.expiresAt === undefined ? undefined : new Date(fields.expiresAt),
  };
}

describe("telegram active allows and /allows", () => {
  it("lists done allows in force per server and address: timed ones by their expiry, zero-duration ones until revoked", () => {
    const allows = activeAllows(
      [
        action(Answer.ALLOW, "198.51.100.23", "done", NOW - 100, { durationMs: HOUR, expiresAt: NOW + HOUR - 100 }),
        action(Answer.ALLOW, "198.51.100.23", "done", NOW - 50, { durationMs: 24 * HOUR, expiresAt: NOW + 24 * HOUR, agentId: "db-1" }),
        action(Answer.ALLOW, "2001:db8::7", "done", NOW - 100, { durationMs: 0 }),
      ],
      NOW,
    );
    expect(allows.map((a) => `${a.agentId} ${a.ip} ${a.expiresAt ? a.expiresAt.toISOString() : "until revoked"}`)).to.deep.equal([
      "db-1 198.51.100.23 2026-11-30T14:02:00.000Z",
      "web-1 198.51.100.23 2026-11-29T15:01:59.900Z",
      "web-1 2001:db8::7 until revoked",
    ]);
  });

  it("leaves out expired, failed, pending, dry-run, revoked, and allows that recorded nothing", () => {
    const allows = activeAllows(
      [
        action(Answer.ALLOW, "192.0.2.1", "done", NOW - HOUR - 10, { durationMs: HOUR, expiresAt: NOW - 10 }),
        action(Answer.ALLOW, "192.0.2.2", "failed", NOW - 100, { durationMs: HOUR }),
        action(Answer.ALLOW, "192.0.2.3", "pending", NOW - 100, { durationMs: HOUR }),
        action(Answer.ALLOW, "192.0.2.4", "done", NOW - 100, { durationMs: HOUR, expiresAt: NOW + HOUR, dryRun: true }),
        action(Answer.ALLOW, "192.0.2.5", "done", NOW - 100, { durationMs: 0 }),
        action(Answer.REVOKE_ALLOW, "192.0.2.5", "done", NOW - 50),
        action(Answer.ALLOW, "192.0.2.6", "done", NOW - 100),
        action(Answer.ALLOW, "192.0.2.7", "done", NOW - 100, { durationMs: 0 }),
        action(Answer.REVOKE_ALLOW, "192.0.2.7", "failed", NOW - 50),
        action(Answer.REVOKE_ALLOW, "192.0.2.7", "done", NOW - 50, { agentId: "db-1" }),
      ],
      NOW,
    );
    expect(allows.map((a) => a.ip)).to.deep.equal(["192.0.2.7"]);
  });

  it("an allow after a revoke is in force again; of several, the one ending last (the agent never shortens one)", () => {
    const later = action(Answer.ALLOW, "192.0.2.9", "done", NOW - 100, { durationMs: HOUR, expiresAt: NOW + HOUR });
    const longer = action(Answer.ALLOW, "192.0.2.8", "done", NOW - 300, { durationMs: 24 * HOUR, expiresAt: NOW + 20 * HOUR });
    const allows = activeAllows(
      [
        action(Answer.ALLOW, "192.0.2.9", "done", NOW - 300, { durationMs: 0 }),
        action(Answer.REVOKE_ALLOW, "192.0.2.9", "done", NOW - 200),
        later,
        longer,
        action(Answer.ALLOW, "192.0.2.8", "done", NOW - 100, { durationMs: HOUR, expiresAt: NOW + HOUR }),
      ],
      NOW,
    );
    expect(allows.map((a) => a.action)).to.deep.equal([longer, later]);
  });

  it("an allow ends an earlier block of its address in /blocks", () => {
    const blocks = activeBlocks(
      [
        action(Answer.BLOCK_IP, "198.51.100.23", "done", NOW - 300, { expiresAt: NOW + HOUR }),
        action(Answer.ALLOW, "198.51.100.23", "done", NOW - 100, { durationMs: HOUR, expiresAt: NOW + HOUR }),
        action(Answer.BLOCK_IP, "198.51.100.24", "done", NOW - 300),
        action(Answer.ALLOW, "198.51.100.24", "done", NOW - 100, { durationMs: HOUR, expiresAt: NOW + HOUR, dryRun: true }),
      ],
      NOW,
    );
    expect(blocks.map((b) => b.ip)).to.deep.equal(["198.51.100.24"]);
  });

  it("renders /allows per server with time left, end and who, and one Revoke button each (en, es)", () => {
    const timed = action(Answer.ALLOW, "198.51.100.23", "done", NOW - 60_000, { durationMs: HOUR, expiresAt: NOW + HOUR - 60_000 });
    const forever = action(Answer.ALLOW, "2001:db8::7", "done", NOW - 100, { durationMs: 0, username: "ana" });
    const other = action(Answer.ALLOW, "203.0.113.9", "done", NOW - 100, { durationMs: 24 * HOUR, expiresAt: NOW + 24 * HOUR, agentId: "db-1" });
    const allows = activeAllows([timed, forever, other], NOW);

    const [page, ...more] = renderAllows(allows, en, NOW);
    expect(more).to.deep.equal([]);
    expect(page!.text).to.equal(
      [
        "Active allows (3), alerts about them muted:",
        "<b>db-1</b>",
        "✅ <code>203.0.113.9</code> — 24 h left (until 2026-11-30 14:02 UTC), by @op",
        "<b>web-1</b>",
        "✅ <code>198.51.100.23</code> — 59 min left (until 2026-11-29 15:01 UTC), by @op",
        "✅ <code>2001:db8::7</code> — until revoked, by @ana",
      ].join("\n"),
    );
    expect(page!.keyboard.map((row) => row.map((b) => b.text))).to.deep.equal([["Revoke 203.0.113.9 (db-1)"], ["Revoke 198.51.100.23 (web-1)"], ["Revoke 2001:db8::7 (web-1)"]]);
    expect(page!.keyboard.map((row) => decodeCallback(row[0]!.callback_data))).to.deep.equal([other, timed, forever].map((a) => ({ type: "revoke", actionId: a.actionId })));

    const [spanish] = renderAllows(allows, es, NOW);
    expect(spanish!.text).to.equal(
      [
        "Permisos activos (3), con sus alertas silenciadas:",
        "<b>db-1</b>",
        "✅ <code>203.0.113.9</code> — quedan 24 h (hasta 2026-11-30 14:02 UTC), por @op",
        "<b>web-1</b>",
        "✅ <code>198.51.100.23</code> — quedan 59 min (hasta 2026-11-29 15:01 UTC), por @op",
        "✅ <code>2001:db8::7</code> — hasta que se revoque, por @ana",
      ].join("\n"),
    );
    expect(spanish!.keyboard.map((row) => row[0]!.text)).to.deep.equal(["Revocar 203.0.113.9 (db-1)", "Revocar 198.51.100.23 (web-1)", "Revocar 2001:db8::7 (web-1)"]);
  });

  it("says there are none, and pages long lists by 20 with the header once", () => {
    expect(renderAllows([], en, NOW)).to.deep.equal([{ text: "No active allows.", keyboard: [] }]);
    expect(renderAllows([], es, NOW)).to.deep.equal([{ text: "No hay permisos activos.", keyboard: [] }]);
    const many = activeAllows(
      Array.from({ length: 25 }, (_, i) => action(Answer.ALLOW, `192.0.2.${i + 10}`, "done", NOW - 100, { durationMs: 0 })),
      NOW,
    );
    const pages = renderAllows(many, en, NOW);
    expect(pages.map((p) => p.keyboard.length)).to.deep.equal([20, 5]);
    expect(pages[0]!.text.startsWith("Active allows (25)")).to.equal(true);
    expect(pages[1]!.text.startsWith("<b>web-1</b>")).to.equal(true);
  });

  it("the second row after a tap on Allow: three durations and Cancel, each button's data versioned and within 64 bytes (en, es)", () => {
    const alertId = "0192f0c8-0000-7000-8000-00000000abcd";
    const keyboard = allowKeyboard(alertId, en);
    expect(keyboard.map((row) => row.map((b) => b.text))).to.deep.equal([["Allow 1 h", "Allow 24 h", "Allow always"], ["Cancel"]]);
    expect(keyboard.flat().map((b) => decodeCallback(b.callback_data))).to.deep.equal([
      { type: "allow", alertId, duration: "1h" },
      { type: "allow", alertId, duration: "24h" },
      { type: "allow", alertId, duration: "always" },
      { type: "cancel", alertId },
    ]);
    for (const b of keyboard.flat()) expect(Buffer.byteLength(b.callback_data)).to.be.at.most(MAX_CALLBACK_BYTES);
    expect(allowKeyboard(alertId, es).map((row) => row.map((b) => b.text))).to.deep.equal([["Permitir 1 h", "Permitir 24 h", "Permitir siempre"], ["Cancelar"]]);
    expect(allowKeyboard("x".repeat(60), en)).to.deep.equal([]);
    expect([answerLabel(Answer.REVOKE_ALLOW, en), answerLabel(Answer.REVOKE_ALLOW, es)]).to.deep.equal(["Revoke allow", "Revocar permiso"]);
  });

  it("escapes addresses and names it shows", () => {
    const odd = action(Answer.ALLOW, "<b>x</b>", "done", NOW - 100, { durationMs: 0, username: "a<b" });
    const [page] = renderAllows(activeAllows([odd], NOW), en, NOW);
    expect(page!.text).to.include("<code>&lt;b&gt;x&lt;/b&gt;</code>");
    expect(page!.text).to.include("by @a&lt;b");
  });
});
