import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { expect } from "chai";
import postgres from "postgres";
import { Answer, OperatorSchema, ResultStatus } from "../gen/secarc/v1/action_pb.js";
import type { ControllerMessage } from "../gen/secarc/v1/agent_service_pb.js";
import { connectRawAgent, type RawAgentClient } from "./support/raw-agent-client.js";
import { sshAlert, startControllerHarness, testOperator, type ControllerHarness } from "./support/controller-harness.js";
import { startPgCluster, type PgCluster } from "../testing/postgres.js";

const isCase = (c: ControllerMessage["payload"]["case"]) => (m: ControllerMessage) => m.payload.case === c;

describe("controller on the PostgreSQL store: serves an agent end to end", function () {
  this.timeout(120_000);
  let cluster: PgCluster;
  let h: ControllerHarness | undefined;
  let client: RawAgentClient | undefined;
  let db: postgres.Sql | undefined;
  let socketDir: string;

  before(async () => {
    cluster = await startPgCluster();
    socketDir = mkdtempSync(join(tmpdir(), "secarc-pg-admin-"));
  });
  after(async () => {
    client?.close();
    await h?.cleanup();
    await db?.end({ timeout: 5 });
    await cluster?.stop();
    rmSync(socketDir, { recursive: true, force: true });
  });

  it("stores the agent, acks an alert only once it is in PostgreSQL, delivers an answer and records its result there", async () => {
    const url = await cluster.createDatabase("controller_pg");
    db = postgres(url, { max: 1, onnotice: () => {} });
    h = await startControllerHarness({ store: { postgres: { url, poolSize: 4 } }, admin: { socket: join(socketDir, "admin.sock") } });
    const count = async (table: "alerts" | "agents") => Number((await db!.unsafe(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

    const certs = await h.pki.issueAgent("web-1");
    client = connectRawAgent({ port: h.controller.port, ca: h.pki.ca, ...certs });
    client.hello({ agentId: "web-1", agentVersion: "test", hostname: "web-1.example", actions: [Answer.BLOCK_IP], detectors: [1], finishedActionIds: [] });
    await client.waitFor(isCase("welcome"));
    const [agent] = await db<Array<{ online: number; hostname: string }>>`SELECT online, hostname FROM agents WHERE agent_id = 'web-1'`;
    expect(agent).to.deep.equal({ online: 1, hostname: "web-1.example" });

    const alert = sshAlert();
    client.send({ payload: { case: "alert", value: alert } });
    await client.waitFor((m) => m.payload.case === "alertAck" && m.payload.value.alertId === alert.id);
    const [stored] = await db<Array<{ agent_id: string; revision: number }>>`SELECT agent_id, revision::int AS revision FROM alerts WHERE alert_id = ${alert.id}`;
    expect(stored).to.deep.equal({ agent_id: "web-1", revision: 1 });
    expect(await count("alerts")).to.equal(1);

    const requested = await h.controller.actions.request({ agentId: "web-1", alertId: alert.id, answer: Answer.BLOCK_IP, operator: create(OperatorSchema, testOperator) });
    if (!requested.ok) throw new Error(requested.detail);
    const message = await client.waitFor(isCase("responseAction"));
    if (message.payload.case !== "responseAction") throw new Error("unreachable");
    const actionId = message.payload.value.actionId;
    client.send({ payload: { case: "actionResult", value: { actionId, status: ResultStatus.DONE, detail: "blocked 198.51.100.7" } } });
    await client.waitFor((m) => m.payload.case === "resultAck" && m.payload.value.actionId === actionId);
    const [action] = await db<Array<{ state: string; detail: string }>>`SELECT state, detail FROM actions WHERE action_id = ${actionId}`;
    expect(action).to.deep.equal({ state: "done", detail: "blocked 198.51.100.7" });

    client.end();
    await client.ended;
    let online = 1;
    for (let i = 0; i < 100 && online === 1; i++) {
      online = Number((await db`SELECT online FROM agents WHERE agent_id = 'web-1'`)[0]!.online);
      if (online === 1) await new Promise((r) => setTimeout(r, 50));
    }
    expect(online).to.equal(0);
    expect(await count("agents")).to.equal(1);
  });
});
