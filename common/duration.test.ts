import { expect } from "chai";
import { formatDuration, parseDuration } from "./duration.js";

describe("durations", () => {
  const cases: Array<[string | number, number]> = [["30s", 30_000], ["1m30s", 90_000], ["24h", 86_400_000], ["500ms", 500], ["2d", 172_800_000], ["0", 0], [45, 45_000], ["1.5s", 1500]];
  for (const [input, ms] of cases) it(`parses ${JSON.stringify(input)} as ${ms} ms`, () => expect(parseDuration(input)).to.equal(ms));
  for (const bad of ["", "abc", "10x", "5m junk", "-1s", "s"]) it(`refuses ${JSON.stringify(bad)}`, () => expect(() => parseDuration(bad)).to.throw(/invalid duration/));
  it("formats compactly", () => {
    expect(formatDuration(86_400_000)).to.equal("1d");
    expect(formatDuration(90_000)).to.equal("1m30s");
    expect(formatDuration(0)).to.equal("0s");
  });
});
