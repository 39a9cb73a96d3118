import { expect } from "chai";
import { createLineSplitter } from "./line-splitter.js";

function split(chunks: (string | Buffer)[], max = 16) {
  const lines: string[] = [];
  const s = createLineSplitter((text, start, end) => lines.push(text.slice(start, end)), max);
  for (const c of chunks) s.push(typeof c === "string" ? Buffer.from(c, "latin1") : c);
  s.end();
  return { lines, oversized: s.oversized, discarded: s.discardedBytes };
}

describe("line splitter", () => {
  it("joins lines across chunks and strips CR", () => {
    expect(split(["ab", "c\r\nde", "f\n", "g"]).lines).to.deep.equal(["abc", "def", "g"]);
  });

  it("cuts long lines at the cap, inside one chunk or across many, counting each once", () => {
    const r = split(["0123456789abcdefXYZ\nshort\n", "0123456789", "abcdefghij", "klm\nend\n"]);
    expect(r.lines).to.deep.equal(["0123456789abcdef", "short", "0123456789abcdef", "end"]);
    expect(r.oversized).to.equal(2);
    expect(r.discarded).to.equal(3 + 7);
  });

  it("keeps its own copy of a partial line when the caller reuses the buffer", () => {
    const lines: string[] = [];
    const s = createLineSplitter((text, start, end) => lines.push(text.slice(start, end)), 8);
    const buf = Buffer.from("abcdefghijkl");
    s.push(buf);
    buf.fill(0x3f); // "????????????"
    s.push(Buffer.from("\n"));
    expect(lines).to.deep.equal(["abcdefgh"]);
  });
});
