import { readFileSync } from "node:fs";
import { expect } from "chai";
import { SECARC_VERSION } from "./version.js";

describe("SECARC_VERSION", () => {
  it("matches package.json", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    expect(SECARC_VERSION).to.equal(pkg.version);
  });
});
