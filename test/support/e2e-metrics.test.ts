import { expect } from "chai";
import { parseMetrics } from "./e2e-metrics.js";

describe("the tests' metrics parser", () => {
  it("reads values as Prometheus does: numbers, NaN and ±Inf in any case; refuses anything else", () => {
    const scrape = parseMetrics(["# TYPE lag summary", "lag_mean_seconds Nan", "a 1.5e3", 'b{le="+Inf"} +Inf', "c -inf", ""].join("\n"));
    expect(scrape.samples.get("lag_mean_seconds")).to.be.NaN;
    expect(scrape.samples.get("a")).to.equal(1500);
    expect(scrape.samples.get('b{le="+Inf"}')).to.equal(Infinity);
    expect(scrape.samples.get("c")).to.equal(-Infinity);
    expect(scrape.types.get("lag")).to.equal("summary");
    expect(() => parseMetrics("d lots")).to.throw(/malformed metrics value: d lots/);
    expect(() => parseMetrics("e ")).to.throw(/malformed metrics value/);
  });
});
