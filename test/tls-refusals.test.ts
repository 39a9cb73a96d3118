import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startAgent } from "../agent/agent.js";
import { agentConfigSchema } from "../agent/config.js";
import { parseConfig } from "../common/config.js";
import { silentLogger } from "../common/log.js";
import { startController } from "../controller/controller.js";
import { testAgentConfig } from "./support/agent-process.js";
import { testControllerConfig } from "./support/controller-harness.js";
import { createTestPki, type CertPaths, type TestPki } from "./support/pki.js";
import { givenResponders } from "./support/given-responders.js";

/** Issue 13, acceptance 4: each mistake is refused at start, naming the file and the fix. */
describe("TLS identity mistakes are refused at start, naming the file and the fix", function () {
  this.timeout(30_000);
  let pki: TestPki;
  let dir: string;
  beforeEach(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-tls-refusal-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    pki.cleanup();
  });

  async function controllerRefusal(paths: { ca?: string; cert: string; key: string }, now?: () => number): Promise<string> {
    const config = testControllerConfig(pki, dir, { tls: { ca: paths.ca ?? pki.ca, cert: paths.cert, key: paths.key } });
    const error = await startController({ config, logger: silentLogger(), startTelegram: false, ...(now ? { now } : {}) }).then(
      async (running) => {
        await running.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error, "the controller started").to.not.equal(undefined);
    expect((error as { code?: string }).code).to.equal("tls_invalid");
    return String((error as Error).message);
  }

  async function agentRefusal(paths: { ca?: string } & CertPaths, now?: () => number): Promise<string> {
    const config = parseConfig(agentConfigSchema, testAgentConfig({ ca: paths.ca ?? pki.ca, cert: paths.cert, key: paths.key, stateDir: join(dir, "agent"), port: 9 }), "test");
    const error = await startAgent({ config, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map()), ...(now ? { now } : {}) }).then(
      async (running) => {
        await running.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error, "the agent started").to.not.equal(undefined);
    expect((error as { code?: string }).code).to.equal("tls_invalid");
    return String((error as Error).message);
  }

  it("a private key readable by group or others: chmod 600 FILE", async () => {
    const key = join(dir, "controller-key.pem");
    copyFileSync(pki.controller.key, key);
    chmodSync(key, 0o644);
    const message = await controllerRefusal({ cert: pki.controller.cert, key });
    expect(message).to.equal(`TLS key ${key} is readable by group or others (mode 0644): chmod 600 ${key}`);
    chmodSync(key, 0o640);
    expect(await controllerRefusal({ cert: pki.controller.cert, key })).to.include(`(mode 0640): chmod 600 ${key}`);
  });

  it("an agent certificate configured as the controller's: it needs serverAuth", async () => {
    const agent = await pki.issueAgent("web-1");
    const message = await controllerRefusal(agent);
    expect(message).to.include(`certificate ${agent.cert} cannot serve as the controller's: its extended key usage is clientAuth, the controller needs serverAuth`);
    expect(message).to.include("secarc certs issue controller");
  });

  it("the controller's certificate configured as an agent's: it needs clientAuth", async () => {
    const message = await agentRefusal(pki.controller);
    expect(message).to.include(`certificate ${pki.controller.cert} cannot serve as the agent's: its extended key usage is serverAuth, the agent needs clientAuth`);
    expect(message).to.include("secarc certs issue agent NAME");
  });

  it("a key that does not match its certificate names both paths", async () => {
    const agent = await pki.issueAgent("web-1");
    const other = await pki.issueAgent("web-2");
    const message = await agentRefusal({ cert: agent.cert, key: other.key });
    expect(message).to.include(`TLS key ${other.key} does not belong to certificate ${agent.cert}`);
    const controllerMessage = await controllerRefusal({ cert: pki.controller.cert, key: other.key });
    expect(controllerMessage).to.include(`TLS key ${other.key} does not belong to certificate ${pki.controller.cert}`);
  });

  it("a certificate the configured CA did not sign", async () => {
    const message = await agentRefusal(pki.foreign.agent);
    expect(message).to.include(`certificate ${pki.foreign.agent.cert} is not signed by the CA ${pki.ca}`);
    expect(message).to.include("point tls.ca at the CA that issued it");
  });

  it("an expired certificate, with this host's clock", async () => {
    const old = await pki.issueAgent("old", { expired: true });
    const message = await agentRefusal(old);
    expect(message).to.match(new RegExp(`^certificate ${old.cert} expired on \\d{4}-\\d\\d-\\d\\dT.*\\(this host's clock says \\d{4}-.*\\): renew it with secarc certs issue$`));
  });

  it("a certificate not yet valid: the clock is named", async () => {
    const past = Date.parse("2020-01-01T00:00:00Z");
    const message = await controllerRefusal(pki.controller, () => past);
    expect(message).to.include(`certificate ${pki.controller.cert} is not valid yet`);
    expect(message).to.include("this host's clock says 2020-01-01T00:00:00.000Z: check the clock (timedatectl)");
  });

  it("the right files start both sides (the checks refuse only mistakes)", async () => {
    const config = testControllerConfig(pki, dir);
    const controller = await startController({ config, logger: silentLogger(), startTelegram: false });
    try {
      const agent = await pki.issueAgent("web-1");
      const agentConfig = parseConfig(agentConfigSchema, testAgentConfig({ ca: pki.ca, ...agent, stateDir: join(dir, "agent"), port: controller.port }), "test");
      const running = await startAgent({ config: agentConfig, logger: silentLogger(), detectors: () => [], responders: givenResponders(new Map()) });
      await running.waitConnected(10_000);
      await running.close();
    } finally {
      await controller.close();
    }
  });
});
