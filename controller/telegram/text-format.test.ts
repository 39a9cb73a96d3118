import { expect } from "chai";
import { create } from "@bufbuild/protobuf";
import { OperatorSchema } from "../../gen/secarc/v1/action_pb.js";
import { translations } from "./i18n/translations.js";
import { clip, escapeHtml, fitMessage, formatTime, humanDuration, MAX_MESSAGE_CHARS, operatorName, splitMessage } from "./text-format.js";

describe("telegram text formatting", () => {
  it("escapes the three characters HTML mode requires", () => {
    expect(escapeHtml(`<a href="x">&amp;</a>`)).to.equal(`&lt;a href="x"&gt;&amp;amp;&lt;/a&gt;`);
  });

  it("clips untrusted text and removes control characters", () => {
    expect(clip("a\nb\u0000c", 10)).to.equal("a b c");
    expect(clip("abcdefghij", 5)).to.equal("abcd…");
  });

  it("fits a long message under 4096 characters, cut between lines, with the marker", () => {
    const html = Array.from({ length: 500 }, (_, i) => `<b>line ${i}</b> ${"x".repeat(20)}`).join("\n");
    const fitted = fitMessage(html, "… (truncated)");
    expect(fitted.length).to.be.at.most(MAX_MESSAGE_CHARS);
    expect(fitted.endsWith("\n… (truncated)")).to.equal(true);
    for (const line of fitted.split("\n").slice(0, -1)) expect(line).to.match(/^<b>line \d+<\/b> x{20}$/);
    expect(fitMessage("short", "…")).to.equal("short");
    const one = fitMessage(`<b>${"y".repeat(5000)}</b>`, "…");
    expect(one.length).to.be.at.most(MAX_MESSAGE_CHARS);
    expect(one).to.not.include("<b>");
  });

  it("splits a long list into messages that each fit, losing no line", () => {
    const lines = Array.from({ length: 400 }, (_, i) => `alert ${i} ${"z".repeat(30)}`);
    const parts = splitMessage(lines.join("\n"), "…");
    expect(parts.length).to.be.greaterThan(1);
    for (const part of parts) expect(part.length).to.be.at.most(MAX_MESSAGE_CHARS);
    expect(parts.join("\n").split("\n")).to.deep.equal(lines);
  });

  it("says durations, times and operators the way people do", () => {
    const t = translations.en;
    expect([60_000, 119_000, 120_000, 300_000, 7_200_000, 172_800_000].map((ms) => humanDuration(ms, t))).to.deep.equal(["60 s", "119 s", "2 min", "5 min", "2 h", "2 d"]);
    expect(formatTime(Date.UTC(2026, 10, 29, 4, 41, 38))).to.equal("2026-11-29 04:41 UTC");
    expect(operatorName(create(OperatorSchema, { telegramUserId: 5n, username: "op", displayName: "Op" }))).to.equal("@op");
    expect(operatorName(create(OperatorSchema, { telegramUserId: 5n, displayName: "Op Erator" }))).to.equal("Op Erator");
    expect(operatorName(create(OperatorSchema, { telegramUserId: 5n }))).to.equal("user 5");
  });
});
