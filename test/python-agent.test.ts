import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { createLogger } from "../common/log.js";
import { controllerConfigSchema } from "../controller/config.js";
import { startController, type RunningController } from "../controller/controller.js";
import { AlertKind } from "../gen/secarc/v1/alert_pb.js";
import { createTestPki, type CertPaths, type TestPki } from "./support/pki.js";

/**
 * The polyglot proof: the example agent in examples/python-agent/, with stubs
 * generated from the same protos by Debian's protoc and grpc_python_plugin and
 * run by Debian's python3-grpcio, against the real controller over mTLS.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLE = join(ROOT, "examples", "python-agent");
const PYTHON = "/usr/bin/python3";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runFile(file: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("Python example agent against the controller", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let stateDir: string;
  let controller: RunningController;
  let agent: CertPaths;
  const logLines: string[] = [];

  function runAgent(cert: CertPaths, agentId: string, extra: string[] = []): Promise<Run> {
    return runFile(
      PYTHON,
      [join(EXAMPLE, "agent.py"), "--target", `127.0.0.1:${controller.port}`, "--ca", pki.ca, "--cert", cert.cert, "--key", cert.key, "--agent-id", agentId, "--timeout", "15", ...extra],
      30_000,
    );
  }

  before(async function () {
    const generated = await runFile(join(ROOT, "node_modules", ".bin", "buf"), ["generate", "--template", "examples/python-agent/buf.gen.yaml", "-o", "examples/python-agent"], 60_000);
    expect(generated.code, generated.stderr).to.equal(0);
    expect(existsSync(join(EXAMPLE, "gen", "secarc", "v1", "agent_service_pb2_grpc.py"))).to.equal(true);

    pki = await createTestPki();
    agent = await pki.issueAgent("py-agent-1");
    stateDir = mkdtempSync(join(tmpdir(), "secarc-python-agent-"));
    const config = controllerConfigSchema.parse({
      listen: { host: "127.0.0.1", port: 0 },
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
      store: { path: join(stateDir, "controller.db") },
      log: { level: "warn" },
    });
    const destination = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    controller = await startController({ config, logger: createLogger({ level: "info", destination }) });
  });

  after(async function () {
    await controller?.close();
    pki?.cleanup();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it("completes Hello → Welcome → Alert → AlertAck, and the alert is stored under the certificate's agent id", async function () {
    const run = await runAgent(agent, "py-agent-1");
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).to.have.length(1);
    const result = JSON.parse(lines[0]!) as { welcome: Record<string, unknown>; acked: string };
    expect(result.acked).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(result.welcome.controller_version).to.be.a("string").and.not.equal("");
    expect(result.welcome.max_message_bytes).to.equal(1_048_576);

    const stored = (await controller.store.getAlert(result.acked));
    expect(stored, "alert in the store").to.not.equal(undefined);
    expect(stored!.agentId).to.equal("py-agent-1");
    expect(stored!.alert.revision).to.equal(1);
    expect(stored!.alert.kind).to.equal(AlertKind.SSH_SESSION);
    expect(stored!.alert.subject.case).to.equal("sshSession");
    if (stored!.alert.subject.case === "sshSession") expect(stored!.alert.subject.value.user).to.equal("alice");
  });

  it("fails with a clear message, storing nothing, when its Hello claims another agent's id", async function () {
    const run = await runAgent(agent, "someone-else");
    expect(run.code).to.equal(1);
    expect(run.stdout).to.equal("");
    expect(run.stderr).to.match(/PERMISSION_DENIED/);
    expect((await controller.store.listAgents()).map((a) => a.agentId)).to.not.include("someone-else");
    const refusals = logLines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((e) => e.level >= 40 && e.msg.includes("someone-else"));
    expect(refusals, "the refusal is logged with its reason").to.have.length(1);
  });

  it("fails at the TLS handshake with a certificate from another CA", async function () {
    const foreign = await pki.foreign.issueAgent("py-agent-1");
    const run = await runAgent(foreign, "py-agent-1");
    expect(run.code).to.equal(1);
    expect(run.stdout).to.equal("");
    expect(run.stderr).to.match(/^agent\.py: stream failed while waiting for Welcome: UNAVAILABLE/);
    expect((await controller.store.listAgents()).map((a) => a.agentId)).to.deep.equal(["py-agent-1"]);
  });

  it("exits 2 for missing arguments", async function () {
    const run = await runFile(PYTHON, [join(EXAMPLE, "agent.py"), "--target", "127.0.0.1:1"], 30_000);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain("--ca");
  });

  it("is refused by a controller whose tls.crl lists its certificate, while other agents still connect", async function () {
    const revoked = await pki.issueAgent("py-revoked");
    const other = await pki.issueAgent("py-agent-2");
    const crl = await pki.revoke(revoked.cert);
    const config = controllerConfigSchema.parse({
      listen: { host: "127.0.0.1", port: 0 },
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key, crl },
      store: { path: join(stateDir, "controller-crl.db") },
      log: { level: "silent" },
    });
    const withCrl = await startController({ config });
    try {
      const target = ["--target", `127.0.0.1:${withCrl.port}`, "--ca", pki.ca, "--timeout", "15"];
      const refused = await runFile(PYTHON, [join(EXAMPLE, "agent.py"), ...target, "--cert", revoked.cert, "--key", revoked.key, "--agent-id", "py-revoked"], 30_000);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.match(/waiting for Welcome: UNAVAILABLE/);
      const accepted = await runFile(PYTHON, [join(EXAMPLE, "agent.py"), ...target, "--cert", other.cert, "--key", other.key, "--agent-id", "py-agent-2"], 30_000);
      expect(accepted.code, accepted.stderr).to.equal(0);
      const acked = (JSON.parse(accepted.stdout) as { acked: string }).acked;
      expect((await withCrl.store.getAlert(acked))?.agentId).to.equal("py-agent-2");
      expect((await withCrl.store.listAgents()).map((a) => a.agentId)).to.deep.equal(["py-agent-2"]);
    } finally {
      await withCrl.close();
    }
  });
});
