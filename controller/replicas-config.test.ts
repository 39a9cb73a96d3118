import { expect } from "chai";
import { parseConfig } from "../common/config.js";
import { isSecarcError } from "../common/errors.js";
import { controllerConfigSchema, replicaTimings } from "./config.js";

const tls = { ca: "/etc/secarc/ca.pem", cert: "/etc/secarc/controller.pem", key: "/etc/secarc/controller-key.pem" };
const postgres = { postgres: { url: "postgres://secarc@db.example:5432/secarc" } };
const parse = (replicas: unknown, store: unknown = postgres) => parseConfig(controllerConfigSchema, { tls, store, replicas }, "controller.yaml");

describe("controller config: replicas", () => {
  it("left out, the replicas run on the timings they had before they were keys: 2 s beats, dead after 15 s, a 15 s lease, a 3 s sweep", () => {
    const config = parseConfig(controllerConfigSchema, { tls, store: postgres }, "test");
    expect(config.replicas).to.equal(undefined);
    expect(replicaTimings(config)).to.deep.equal({ heartbeatEvery: 2_000, deadAfter: 15_000, telegramLeaseTtl: 15_000, actionSweepEvery: 3_000 });
    expect(replicaTimings(parse({}))).to.deep.equal(replicaTimings(config));
  });

  it("parses durations as the other keys do and keeps what is given", () => {
    expect(parse({ heartbeatEvery: "200ms", deadAfter: "1s", telegramLeaseTtl: "1m", actionSweepEvery: 1 }).replicas).to.deep.equal({
      heartbeatEvery: 200,
      deadAfter: 1_000,
      telegramLeaseTtl: 60_000,
      actionSweepEvery: 1_000,
    });
    expect(parse({ deadAfter: "6s" }).replicas).to.deep.equal({ heartbeatEvery: 2_000, deadAfter: 6_000, telegramLeaseTtl: 15_000, actionSweepEvery: 3_000 });
  });

  for (const [name, replicas, store, words] of [
    ["the section without store.postgres (SQLite)", { heartbeatEvery: "1s" }, { path: "/srv/c.db" }, "replicas: only with store.postgres"],
    ["an empty section with the default store (SQLite)", {}, {}, "replicas: only with store.postgres"],
    ["a death time of one beat", { heartbeatEvery: "5s", deadAfter: "5s" }, postgres, "replicas.deadAfter: must be at least three replicas.heartbeatEvery"],
    ["a death time below three default beats", { deadAfter: "5s" }, postgres, "replicas.deadAfter: must be at least three replicas.heartbeatEvery"],
    ["a death time under 1s", { heartbeatEvery: "100ms", deadAfter: "500ms" }, postgres, "replicas.deadAfter: must be between 1s and 1h"],
    ["a heartbeat of 0", { heartbeatEvery: 0 }, postgres, "replicas.heartbeatEvery: must be between 100ms and 1m"],
    ["a lease too short to renew", { telegramLeaseTtl: "1s" }, postgres, "replicas.telegramLeaseTtl: must be between 3s and 10m"],
    ["a lease of an hour", { telegramLeaseTtl: "1h" }, postgres, "replicas.telegramLeaseTtl: must be between 3s and 10m"],
    ["an action sweep of 10ms", { actionSweepEvery: "10ms" }, postgres, "replicas.actionSweepEvery: must be between 100ms and 5m"],
    ["a bad duration", { heartbeatEvery: "often" }, postgres, "replicas.heartbeatEvery"],
    ["an unknown key", { heartbeatInterval: "2s" }, postgres, "replicas.heartbeatInterval: unknown key"],
  ] as const) {
    it(`refuses ${name}, naming the key`, () => {
      try {
        parse(replicas, store);
        expect.fail("expected a config error");
      } catch (err) {
        expect(isSecarcError(err, "config_invalid"), String(err)).to.equal(true);
        expect((err as Error).message).to.include(words);
      }
    });
  }
});
