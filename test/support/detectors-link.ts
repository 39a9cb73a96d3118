// A real controller and a real agent on loopback (mutual TLS, test PKI) for
// the detector system tests: the agent builds its detectors from its config
// through the registry, exactly as `secarc agent` does, and the tests read
// what reached the controller's store.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../common/config.js";
import { silentLogger } from "../../common/log.js";
import type { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import { agentConfigSchema } from "../../agent/config.js";
import { startAgent, type RunningAgent } from "../../agent/agent.js";
import type { AlertRecord } from "../../controller/store/store.js";
import { testAgentConfig } from "./agent-process.js";
import { startControllerHarness, type ControllerHarness } from "./controller-harness.js";
import { givenResponders } from "./given-responders.js";

export interface LinkedAgent {
  harness: ControllerHarness;
  agent: RunningAgent;
  /** Alerts of a kind stored by the controller (highest revision of each), open or not. */
  stored(kind: AlertKind): Promise<AlertRecord[]>;
  close(): Promise<void>;
}

export async function startLinkedAgent(detectors: unknown): Promise<LinkedAgent> {
  const harness = await startControllerHarness();
  const dir = mkdtempSync(join(tmpdir(), "secarc-detectors-agent-"));
  // Every alert stored, by id (the event bus tells each insert and update).
  const ids = new Set<string>();
  harness.controller.events.subscribe((event) => {
    if (event.type === "alert") ids.add(event.alertId);
  });
  const cert = await harness.pki.issueAgent(`detectors-${randomBytes(3).toString("hex")}`);
  const config = parseConfig(
    agentConfigSchema,
    { ...testAgentConfig({ ca: harness.pki.ca, cert: cert.cert, key: cert.key, stateDir: join(dir, "state"), port: harness.controller.port }), detectors },
    "test agent",
  );
  // No responders: these tests look at alerts only, and must not touch the host's firewall.
  const agent = await startAgent({ config, logger: silentLogger(), responders: givenResponders(new Map()) });
  await agent.waitConnected(10_000);
  return {
    harness,
    agent,
    async stored(kind) {
      const out: AlertRecord[] = [];
      for (const id of ids) {
        const record = (await harness.controller.store.getAlert(id));
        if (record && record.alert.kind === kind) out.push(record);
      }
      return out;
    },
    async close() {
      await agent.close();
      await harness.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
