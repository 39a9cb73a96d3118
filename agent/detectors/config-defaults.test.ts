import { expect } from "chai";
import { detectorsConfigSchema } from "./config.js";
import { detectorsDefaults } from "./config-defaults.js";

describe("detectorsDefaults", () => {
  it("equals what the config schema gives for an absent detectors section", () => {
    expect(detectorsDefaults()).to.deep.equal(detectorsConfigSchema.parse(undefined));
    expect(detectorsDefaults()).to.deep.equal(detectorsConfigSchema.parse({}));
  });

  it("gives a fresh copy each time", () => {
    const mine = detectorsDefaults();
    mine.nginx404.warning = 1;
    expect(detectorsDefaults().nginx404.warning).to.equal(20);
  });
});
