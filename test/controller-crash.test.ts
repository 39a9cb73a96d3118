import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Answer } from "../gen/secarc/v1/action_pb.js";
import type { ControllerConfigInput } from "../controller/config.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import { startControllerProcess, type ControllerProcess } from "./support/controller-process.js";
import { sshAlert } from "./support/controller-harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";

describe("controller process: killed between storing an alert and acking it", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let processes: ControllerProcess[] = [];
  let clients: RawAgentClient[] = [];

  const config = (port: number): ControllerConfigInput => ({
    listen: { host: "127.0.0.1", port },
    tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
    store: { path: join(dir, "controller.db") },
    log: { level: "info" },
  });
  const countAlerts = (id: string) => {
    const store = openSqliteStore(join(dir, "controller.db"));
    try {
      return (store.db.prepare("SELECT COUNT(*) AS n FROM alerts WHERE alert_id = ?").get(id) as { n: number }).n;
    } finally {
      void store.close();
    }
  };

  beforeEach(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "secarc-crash-"));
  });
  afterEach(async () => {
    for (const c of clients) c.close();
    for (const p of processes) {
      p.kill("SIGKILL");
      await p.stopped;
    }
    clients = [];
    processes = [];
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the stored alert through SIGKILL, and a resend after restart leaves exactly one", async () => {
    const certs = await pki.issueAgent("web-1");
    const crashing = await startControllerProcess({ config: config(0), env: { SECARC_TEST_CRASH_AFTER_STORE: "1" } });
    processes.push(crashing);
    const alert = sshAlert();
    const first = connectRawAgent({ port: crashing.port, ca: pki.ca, ...certs });
    clients.push(first);
    first.hello({ agentId: "web-1", actions: [Answer.BLOCK_IP] });
    await first.waitFor((m) => m.payload.case === "welcome");
    first.send({ payload: { case: "alert", value: alert } });
    const exit = await crashing.stopped;
    expect(exit).to.equal(null);
    const status = await first.ended;
    expect(status.code).to.not.equal(0);
    expect(first.received.filter((m) => m.payload.case === "alertAck")).to.have.length(0);
    expect(countAlerts(alert.id)).to.equal(1);

    const restarted = await startControllerProcess({ config: config(crashing.port) });
    processes.push(restarted);
    const again = connectRawAgent({ port: restarted.port, ca: pki.ca, ...certs });
    clients.push(again);
    again.hello({ agentId: "web-1", actions: [Answer.BLOCK_IP] });
    again.send({ payload: { case: "alert", value: alert } });
    const ack = await again.waitFor((m) => m.payload.case === "alertAck");
    expect(ack.payload.value).to.include({ alertId: alert.id, revision: 1 });
    restarted.kill("SIGTERM");
    expect(await restarted.stopped).to.equal(0);
    expect(countAlerts(alert.id)).to.equal(1);
  });

  it("stops cleanly on SIGTERM: streams end with UNAVAILABLE and the agent is recorded offline", async () => {
    const certs = await pki.issueAgent("web-2");
    const controller = await startControllerProcess({ config: config(0) });
    processes.push(controller);
    const client = connectRawAgent({ port: controller.port, ca: pki.ca, ...certs });
    clients.push(client);
    client.hello({ agentId: "web-2" });
    await client.waitFor((m) => m.payload.case === "welcome");
    controller.kill("SIGTERM");
    const status = await client.ended;
    expect(status.code).to.equal(14);
    expect(await controller.stopped).to.equal(0);
    const store = openSqliteStore(join(dir, "controller.db"));
    try {
      expect(await store.getAgent("web-2")).to.include({ online: false, connects: 1 });
    } finally {
      void store.close();
    }
  });
});
