import { silentLogger } from "../common/log.js";
import { expect } from "chai";
import { parseConfig } from "../common/config.js";
import { isSecarcError } from "../common/errors.js";
import { controllerConfigSchema } from "./config.js";

const tls = { ca: "/etc/secarc/ca.pem", cert: "/etc/secarc/controller.pem", key: "/etc/secarc/controller-key.pem" };
const parse = (store: unknown) => parseConfig(controllerConfigSchema, { tls, store }, "controller.yaml");

describe("controller config: store", () => {
  it("is SQLite at the default path unless told otherwise", () => {
    expect(parseConfig(controllerConfigSchema, { tls }, "test").store).to.deep.equal({ path: "/var/lib/secarc/controller/controller.db" });
    expect(parse({ path: "/srv/c.db" }).store).to.deep.equal({ path: "/srv/c.db" });
    expect(parse({}).store).to.deep.equal({ path: "/var/lib/secarc/controller/controller.db" });
  });

  it("takes a PostgreSQL URL with a pool size of 10 by default", () => {
    expect(parse({ postgres: { url: "postgres://secarc@db.example:5432/secarc" } }).store.postgres).to.deep.equal({ url: "postgres://secarc@db.example:5432/secarc", poolSize: 10 });
    expect(parse({ postgres: { url: "postgresql://secarc:pw@10.0.0.5/secarc?sslmode=require", poolSize: 3 } }).store.postgres?.poolSize).to.equal(3);
  });

  for (const [name, store, words] of [
    ["both a path and postgres", { path: "/srv/c.db", postgres: { url: "postgres://db/secarc" } }, "not both"],
    ["a URL of another scheme", { postgres: { url: "mysql://db/secarc" } }, "store.postgres.url"],
    ["a URL without a database", { postgres: { url: "postgres://db.example:5432" } }, "naming a host and a database"],
    ["a pool of 0", { postgres: { url: "postgres://db/secarc", poolSize: 0 } }, "store.postgres.poolSize"],
    ["an unknown key", { postgres: { url: "postgres://db/secarc", pool: 3 } }, "store.postgres.pool: unknown key"],
  ] as const) {
    it(`refuses ${name}, naming the key`, () => {
      try {
        parse(store);
        expect.fail("expected a config error");
      } catch (err) {
        expect(isSecarcError(err, "config_invalid"), String(err)).to.equal(true);
        expect((err as Error).message).to.include(words);
      }
    });
  }
});

describe("controller start with store.postgres", function () {
  // Loads the controller and makes a PKI: seconds on a loaded machine.
  this.timeout(60_000);
  it("refuses to start while the server cannot be reached, naming it without the password", async () => {
    const { startController } = await import("./controller.js");
    const { createTestPki } = await import("../test/support/pki.js");
    const pki = await createTestPki();
    const config = parseConfig(controllerConfigSchema, { tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key }, store: { postgres: { url: "postgres://secarc:hunter2@127.0.0.1:1/secarc" } } }, "test");
    const err = await startController({ config, logger: silentLogger() })
      .catch((e: unknown) => e)
      .finally(() => pki.cleanup());
    expect(isSecarcError(err, "unavailable"), String(err)).to.equal(true);
    expect((err as Error).message, (err as Error).message).to.include("127.0.0.1:1/secarc").and.not.include("hunter2");
  });
});
