import { expect } from "chai";
import { isValidAgentId, newId } from "./ids.js";

describe("ids", () => {
  it("makes UUIDv7s that sort by time", () => {
    const a = newId(1_700_000_000_000);
    const b = newId(1_700_000_000_001);
    expect(a).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).to.equal(true);
    expect(new Set(Array.from({ length: 1000 }, () => newId())).size).to.equal(1000);
  });
  it("validates agent ids", () => {
    for (const ok of ["web-1", "db.prod_2", "a"]) expect(isValidAgentId(ok), ok).to.equal(true);
    for (const bad of ["", "-x", "a b", "a/b", "x".repeat(65), "é"]) expect(isValidAgentId(bad), bad).to.equal(false);
  });
});
