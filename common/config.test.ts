import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { z } from "zod";
import { durationMs, loadConfigFile, parseConfig } from "./config.js";

const schema = z.strictObject({
  listen: z.strictObject({ port: z.number().int().min(1).max(65535) }),
  interval: durationMs().default(30_000),
});

describe("config loading", () => {
  it("parses durations and fills defaults", () => {
    expect(parseConfig(schema, { listen: { port: 1 } }, "x")).to.deep.equal({ listen: { port: 1 }, interval: 30_000 });
    expect(parseConfig(schema, { listen: { port: 1 }, interval: "5m" }, "x").interval).to.equal(300_000);
  });
  it("names an unknown key", () => {
    expect(() => parseConfig(schema, { listen: { port: 1, prot: 2 } }, "a.yaml")).to.throw(/listen\.prot: unknown key/);
  });
  it("names a bad value", () => {
    expect(() => parseConfig(schema, { listen: { port: 0 } }, "a.yaml")).to.throw(/listen\.port: /);
    expect(() => parseConfig(schema, { listen: { port: 1 }, interval: "soon" }, "a.yaml")).to.throw(/interval: invalid duration "soon"/);
  });
  it("reads YAML and JSON files, and reports unreadable ones", () => {
    const dir = mkdtempSync(join(tmpdir(), "secarc-config-"));
    writeFileSync(join(dir, "c.yaml"), "listen:\n  port: 8443\ninterval: 10s\n");
    writeFileSync(join(dir, "c.json"), JSON.stringify({ listen: { port: 9 } }));
    expect(loadConfigFile(schema, join(dir, "c.yaml"))).to.deep.equal({ listen: { port: 8443 }, interval: 10_000 });
    expect(loadConfigFile(schema, join(dir, "c.json")).listen.port).to.equal(9);
    expect(() => loadConfigFile(schema, join(dir, "missing.yaml"))).to.throw(/cannot read config .*missing\.yaml/);
    rmSync(dir, { recursive: true, force: true });
  });
});
