import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { parseConfig } from "../../common/config.js";
import { createLogger, type Logger } from "../../common/log.js";
import { newId } from "../../common/ids.js";
import { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../../gen/secarc/v1/alert_pb.js";
import { controllerConfigSchema, type ControllerConfig, type ControllerConfigInput } from "../../controller/config.js";
import { startController, type RunningController, type StartControllerOptions } from "../../controller/controller.js";
import { createTestPki, type TestPki } from "./pki.js";

/** Log lines captured from a logger, parsed. */
export interface CapturedLog {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  /** Lines whose message or reason contains `text`. */
  matching(text: string): Array<Record<string, unknown>>;
}

export function captureLog(): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ level: "debug", destination });
  return {
    logger,
    lines,
    matching: (text) => lines.filter((l) => String(l.msg ?? "").includes(text) || String(l.reason ?? "").includes(text)),
  };
}

/** A controller config for tests: loopback, port 0, a store in `dir`, the PKI's controller certificate. */
export function testControllerConfig(pki: TestPki, dir: string, overrides: Partial<ControllerConfigInput> = {}): ControllerConfig {
  return parseConfig(
    controllerConfigSchema,
    {
      listen: { host: "127.0.0.1", port: 0 },
      tls: { ca: pki.ca, cert: pki.controller.cert, key: pki.controller.key },
      store: { path: join(dir, "controller.db") },
      log: { level: "debug" },
      ...overrides,
    },
    "test",
  );
}

/** A PKI, a temporary directory and an in-process controller, torn down together. */
export interface ControllerHarness {
  pki: TestPki;
  dir: string;
  log: CapturedLog;
  config: ControllerConfig;
  controller: RunningController;
  /** Stops the controller (if running) and starts a new one on the same store and port. */
  restart(): Promise<RunningController>;
  cleanup(): Promise<void>;
}

export async function startControllerHarness(overrides: Partial<ControllerConfigInput> = {}, extra: Partial<StartControllerOptions> = {}): Promise<ControllerHarness> {
  const pki = await createTestPki();
  const dir = mkdtempSync(join(tmpdir(), "secarc-controller-"));
  const log = captureLog();
  const config = testControllerConfig(pki, dir, overrides);
  const harness: ControllerHarness = {
    pki,
    dir,
    log,
    config,
    controller: await startController({ config, logger: log.logger, ...extra }),
    async restart() {
      await harness.controller.close();
      const again = { ...config, listen: { ...config.listen, port: harness.controller.port } };
      harness.controller = await startController({ config: again, logger: log.logger, ...extra });
      return harness.controller;
    },
    async cleanup() {
      await harness.controller.close();
      pki.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** An SSH-session alert from 198.51.100.7 offering allow / close / block. */
export function sshAlert(fields: Partial<Pick<Alert, "id" | "revision" | "state">> = {}): Alert {
  const now = Date.now();
  return create(AlertSchema, {
    id: fields.id ?? newId(now),
    revision: fields.revision ?? 1,
    kind: AlertKind.SSH_SESSION,
    severity: Severity.INFO,
    state: fields.state ?? AlertState.OPEN,
    detectedAt: timestampFromMs(now),
    updatedAt: timestampFromMs(now),
    answers: [Answer.ALLOW, Answer.CLOSE_SESSION, Answer.BLOCK_IP],
    summary: "root logged in from 198.51.100.7",
    subject: { case: "sshSession", value: { user: "root", sourceIp: "198.51.100.7", sourcePort: 51234, authMethod: "publickey", sshdPid: 4242 } },
  });
}

/** A Telegram operator. */
export const testOperator = { telegramUserId: 1001n, username: "ops", displayName: "Ops" };
