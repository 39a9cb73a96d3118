import { expect } from "chai";
import { parseConfig } from "../common/config.js";
import { agentConfigSchema } from "./config.js";

const minimal = {
  controller: { address: "controller.example.net:7443" },
  tls: { ca: "/etc/secarc/ca.pem", cert: "/etc/secarc/agent.pem", key: "/etc/secarc/agent-key.pem" },
};

describe("agent config", () => {
  it("fills in every default from a minimal file", () => {
    const config = parseConfig(agentConfigSchema, minimal, "agent.yaml");
    expect(config.agentId).to.equal(undefined);
    expect(config.stateDir).to.equal("/var/lib/secarc/agent");
    expect(config.link).to.deep.equal({
      backoffInitial: 500,
      backoffMax: 30_000,
      keepaliveTime: 10_000,
      keepaliveTimeout: 5_000,
      maxMessageBytes: 1_048_576,
      connectTimeout: 30_000,
    });
    expect(config.log).to.deep.equal({ level: "info", format: "json" });
    expect(config.detectors.sshSession.enabled).to.equal(true);
  });

  it("block prefixes: /64 for IPv6 and the address alone for IPv4 by default; lengths outside 32-128 / 16-32 refused", () => {
    expect(parseConfig(agentConfigSchema, minimal, "x").block).to.deep.equal({ ipv6Prefix: 64, ipv4Prefix: 32 });
    expect(parseConfig(agentConfigSchema, { ...minimal, block: { ipv6Prefix: 56, ipv4Prefix: 24 } }, "x").block).to.deep.equal({ ipv6Prefix: 56, ipv4Prefix: 24 });
    for (const block of [{ ipv6Prefix: 16 }, { ipv6Prefix: 129 }, { ipv4Prefix: 8 }, { ipv4Prefix: 33 }, { ipv6Prefix: 64.5 }, { ipv6Prefix: 64, size: 1 }]) {
      expect(() => parseConfig(agentConfigSchema, { ...minimal, block }, "agent.yaml"), JSON.stringify(block)).to.throw(/block/);
    }
  });

  it("parses durations and IPv6 addresses", () => {
    const config = parseConfig(agentConfigSchema, { ...minimal, controller: { address: "[::1]:7443", serverName: "localhost" }, link: { backoffInitial: "1s", backoffMax: "2m" } }, "x");
    expect(config.link.backoffInitial).to.equal(1_000);
    expect(config.link.backoffMax).to.equal(120_000);
    expect(config.controller.serverName).to.equal("localhost");
  });

  it("controller endpoints: one \"host:port\", a list of them, or the shorthands; checked one by one", () => {
    const parse = (controller: unknown) => parseConfig(agentConfigSchema, { ...minimal, controller }, "agent.yaml").controller;
    expect(parse({ address: "c.example:7443" })).to.deep.equal({ address: ["c.example:7443"] });
    expect(parse({ address: ["a.example:7443", "[fd00::2]:7443"], serverName: "controller" })).to.deep.equal({ address: ["a.example:7443", "[fd00::2]:7443"], serverName: "controller" });
    expect(parse(["a.example:7443", "b.example:7443"])).to.deep.equal({ address: ["a.example:7443", "b.example:7443"] });
    expect(parse("lb.example:443")).to.deep.equal({ address: ["lb.example:443"] });
    const refused = (controller: unknown) => {
      try {
        parse(controller);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(controller)}`);
    };
    expect(refused({ address: ["a.example:7443", "no-port"] })).to.match(/controller\.address\.1: expected "host:port"/);
    expect(refused(["a.example:7443", "A.example:7443"])).to.match(/controller\.address\.1: "A.example:7443" is listed twice/);
    expect(refused({ address: [] })).to.match(/controller\.address: at least one "host:port"/);
    expect(refused({ address: Array.from({ length: 33 }, (_, i) => `c${i}.example:1`) })).to.match(/controller\.address: at most 32 endpoints/);
    expect(refused({ address: "c.example:70000" })).to.match(/controller\.address\.0: the port must be between 1 and 65535/);
    expect(refused({ address: "c.example:0" })).to.match(/controller\.address\.0: the port/);
    expect(refused({ address: 7443 })).to.match(/controller\.address: expected "host:port" or a list of them/);
    expect(refused({ addresses: ["a.example:1"] })).to.match(/controller\.addresses: unknown key/);
  });

  it("names unknown and invalid keys", () => {
    expect(() => parseConfig(agentConfigSchema, { ...minimal, link: { keepalive: "1s" } }, "agent.yaml")).to.throw(/link\.keepalive: unknown key/);
    expect(() => parseConfig(agentConfigSchema, { ...minimal, extra: 1 }, "agent.yaml")).to.throw(/extra: unknown key/);
    expect(() => parseConfig(agentConfigSchema, { ...minimal, controller: { address: "no-port" } }, "agent.yaml")).to.throw(/controller\.address/);
    expect(() => parseConfig(agentConfigSchema, { tls: minimal.tls }, "agent.yaml")).to.throw(/controller/);
    expect(() => parseConfig(agentConfigSchema, { ...minimal, agentId: "bad id!" }, "agent.yaml")).to.throw(/agentId/);
    expect(() => parseConfig(agentConfigSchema, { ...minimal, link: { backoffInitial: "1m", backoffMax: "10s" } }, "agent.yaml")).to.throw(/link\.backoffInitial/);
  });
});
