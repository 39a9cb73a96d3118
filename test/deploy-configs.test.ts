import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parse } from "yaml";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { controllerConfigSchema } from "../controller/config.js";

const root = new URL("..", import.meta.url).pathname;
const example = (name: string) => parse(readFileSync(`${root}deploy/${name}`, "utf8")) as Record<string, unknown>;

/** Every key path of a parsed config object ("a.b.c"), arrays as leaves. */
function keyPaths(value: unknown, prefix = ""): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => keyPaths(inner, prefix ? `${prefix}.${key}` : key));
}

describe("deploy/ example configs", () => {
  it("the controller example is valid and names every key the schema fills in", () => {
    const written = example("controller.example.yaml");
    const parsed = parseConfig(controllerConfigSchema, written, "controller.example.yaml");
    const documented = new Set(keyPaths(written));
    for (const path of keyPaths(parsed)) expect(documented, `controller.example.yaml lacks ${path}`).to.include(path);
  });

  it("the agent example is valid and names every key the schema fills in", () => {
    const written = example("agent.example.yaml");
    const parsed = parseConfig(agentConfigSchema, written, "agent.example.yaml");
    const documented = new Set(keyPaths(written));
    for (const path of keyPaths(parsed)) expect(documented, `agent.example.yaml lacks ${path}`).to.include(path);
  });

  it("a typo in an example key is reported with its path", () => {
    const written = example("agent.example.yaml");
    (written.link as Record<string, unknown>).backofMax = "30s";
    expect(() => parseConfig(agentConfigSchema, written, "agent.yaml")).to.throw(/link\.backofMax: unknown key/);
  });
});
