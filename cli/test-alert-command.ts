import { X509Certificate } from "node:crypto";
import { hostname } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { agentConfigSchema, resolveAgentId, type AgentConfig } from "../agent/config.js";
import { grpcServiceDefinition } from "../agent/link/grpc-service.js";
import { loadConfigFile } from "../common/config.js";
import { parseDuration } from "../common/duration.js";
import { describeError } from "../common/errors.js";
import { newId } from "../common/ids.js";
import { loadTlsMaterial, type TlsMaterial } from "../common/tls.js";
import { SECARC_VERSION } from "../common/version.js";
import { AgentMessageSchema, AgentService, type AgentMessage, type ControllerMessage, type ProbeHop } from "../gen/secarc/v1/agent_service_pb.js";
import { AlertSchema, AlertState, Severity } from "../gen/secarc/v1/alert_pb.js";
import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";
import { diagnoseConnection } from "./connection-diagnosis.js";

const CONNECT = grpcServiceDefinition(AgentService).connect!;
const DEFAULT_TIMEOUT_MS = 20_000;
const DAY_MS = 86_400_000;

/** One printed hop: ✔ or ✘ and its text. */
export interface HopLine {
  ok: boolean;
  text: string;
}

/** Where the hop lines go; the command prints them as they come. */
export type HopSink = (line: HopLine) => void;

/** The agent's identity and link settings, checked before anything goes on the wire. */
interface ProbeSetup {
  config: AgentConfig;
  tls: TlsMaterial;
  agentId: string;
}

/** One controller endpoint to probe, with the setup. */
interface Setup extends ProbeSetup {
  /** One of `controller.address`. */
  address: string;
  host: string;
  port: number;
}

/** "host:port" or "[v6]:port" → host and port (the config schema checked the shape). */
function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port: Number(address.slice(at + 1)) };
}

/**
 * Hop 1: the config loads and the TLS files pass the agent's own start-up
 * checks (common/tls-checks.ts: key mode, key and certificate, CA,
 * validity on this host's clock, clientAuth), and the certificate names the agent.
 */
function checkSetup(configPath: string, now: number): ProbeSetup | string {
  try {
    const config = loadConfigFile(agentConfigSchema, configPath);
    const tls = loadTlsMaterial(config.tls, { role: "agent", now });
    const agentId = resolveAgentId(config, tls.cert);
    return { config, tls, agentId };
  } catch (err) {
    return describeError(err);
  }
}

/** What an operator can do about a failed Telegram hop. */
function telegramHint(detail: string): string | undefined {
  if (/answered 401/.test(detail)) return "the bot token is wrong or revoked: check TELEGRAM_BOT_TOKEN (or telegram.token) on the controller";
  if (/answered 400.*chat not found/i.test(detail)) return "the chat id is wrong, or the bot is not in that chat: check telegram.chats";
  if (/answered 403/.test(detail)) return "the bot was removed from the chat or blocked by the user";
  if (/answered 429/.test(detail)) return "Telegram is rate-limiting the bot; try again after the wait it asks for";
  if (/unreachable/.test(detail)) return "the controller cannot reach the Bot API: check its DNS, proxy and firewall";
  return undefined;
}

/** A ProbeHop as a printed line. */
export function probeHopLine(hop: ProbeHop): HopLine {
  const name = hop.name === "telegram" ? "Telegram" : hop.name;
  const ms = hop.duration ? Number(hop.duration.seconds) * 1000 + Math.round(hop.duration.nanos / 1e6) : 0;
  if (hop.ok) return { ok: true, text: `${name}: ${hop.detail}${hop.target ? ` to ${hop.target}` : ""} (${ms} ms)` };
  if (!hop.target) return { ok: false, text: `${name}: ${hop.detail}` };
  const hint = telegramHint(hop.detail);
  return { ok: false, text: `${name}: sending to ${hop.target} failed: ${hop.detail} (${ms} ms)${hint ? `\n    ${hint}` : ""}` };
}

/**
 * Sends a test alert through agent → controller → Telegram on a probe
 * session (Hello.probe), which the controller admits beside the agent's live
 * session, to each endpoint of `controller.address` in turn. Reports each
 * hop to `sink` as it completes and resolves to true when every hop of
 * every endpoint succeeded. Each endpoint is bounded by `timeoutMs`.
 */
export async function runTestAlert(options: { configPath: string; timeoutMs: number; sink: HopSink }): Promise<boolean> {
  const { sink } = options;
  const checked = checkSetup(options.configPath, Date.now());
  if (typeof checked === "string") {
    sink({ ok: false, text: `agent config and certificate: ${checked}` });
    return false;
  }
  const days = Math.floor((new Date(new X509Certificate(checked.tls.cert).validTo).getTime() - Date.now()) / DAY_MS);
  sink({ ok: true, text: `agent config and certificate (${checked.agentId}, expires in ${days} day${days === 1 ? "" : "s"})` });
  let ok = true;
  for (const address of checked.config.controller.address) {
    if (!(await probeEndpoint({ ...checked, address, ...splitAddress(address) }, options.timeoutMs, sink))) ok = false;
  }
  return ok;
}

/** One probe session to one endpoint: connect, alert stored, delivery reported. */
async function probeEndpoint(setup: Setup, timeoutMs: number, sink: HopSink): Promise<boolean> {
  const started = Date.now();
  const probe: Probe = { setup, sink, started, deadline: started + timeoutMs, timeoutMs, alertId: newId(), stage: "connect", alertSentAt: 0, ok: true };
  const { client, call } = openProbeCall(setup, probe.deadline);
  await new Promise<void>((resolve) => {
    call.on("data", (message: ControllerMessage) => {
      if (onProbeMessage(probe, message, (m) => call.write(m))) resolve();
    });
    call.on("status", (status: grpc.StatusObject) => {
      if (probe.stage === "done") return;
      const code = grpc.status[status.code] ?? String(status.code);
      const failed =
        status.code === grpc.status.DEADLINE_EXCEEDED
          ? failProbe(probe, `no answer within ${timeoutMs / 1000} s (--timeout)`, probe.stage === "connect")
          : failProbe(probe, `${code}: ${status.details || "stream ended"}`, probe.stage === "connect" && status.code === grpc.status.UNAVAILABLE);
      void failed.then(resolve);
    });
    call.on("error", () => undefined);
    call.write(create(AgentMessageSchema, { payload: { case: "hello", value: { agentId: setup.agentId, agentVersion: SECARC_VERSION, hostname: hostname(), probe: true } } }));
  });
  call.end();
  call.cancel();
  client.close();
  return probe.ok;
}


/** One probe session: connect, alert stored, delivery reported, done. */
interface Probe {
  setup: Setup;
  sink: HopSink;
  started: number;
  deadline: number;
  timeoutMs: number;
  alertId: string;
  stage: "connect" | "store" | "deliver" | "done";
  alertSentAt: number;
  ok: boolean;
}

function openProbeCall(setup: Setup, deadline: number) {
  const { config } = setup;
  const serverName = config.controller.serverName;
  const client = new grpc.Client(setup.address, grpc.credentials.createSsl(setup.tls.ca, setup.tls.key, setup.tls.cert), {
    "grpc.max_receive_message_length": config.link.maxMessageBytes,
    ...(serverName ? { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName } : {}),
  });
  const call = client.makeBidiStreamRequest<AgentMessage, ControllerMessage>(CONNECT.path, CONNECT.requestSerialize, CONNECT.responseDeserialize, new grpc.Metadata(), {
    deadline: new Date(deadline),
  });
  return { client, call };
}

/** Reports why the probe stopped at its stage (a connect failure is diagnosed when `explain`). */
async function failProbe(probe: Probe, reason: string, explain: boolean): Promise<void> {
  const { setup, sink, deadline } = probe;
  const current = probe.stage;
  probe.stage = "done";
  probe.ok = false;
  if (current === "connect") {
    const serverName = setup.config.controller.serverName;
    const diagnosis = explain
      ? await diagnoseConnection({ host: setup.host, port: setup.port, ...(serverName ? { serverName } : {}), tls: setup.tls, caPath: setup.config.tls.ca, timeoutMs: Math.max(1_000, Math.min(5_000, deadline - Date.now())) })
      : undefined;
    sink({ ok: false, text: `controller ${setup.address}: ${diagnosis ?? reason}` });
  } else if (current === "store") sink({ ok: false, text: `alert not acknowledged by the controller: ${reason}` });
  else if (current === "deliver") sink({ ok: false, text: `no delivery report from the controller: ${reason}` });
}

/** Moves the probe on by one controller message; true when it is done. */
function onProbeMessage(probe: Probe, message: ControllerMessage, write: (message: AgentMessage) => void): boolean {
  const { sink } = probe;
  const payload = message.payload;
  const where = probe.setup.address;
  if (probe.stage === "connect" && payload.case === "welcome") {
    if (!payload.value.probe) {
      probe.stage = "done";
      probe.ok = false;
      sink({ ok: false, text: `controller ${where} (version ${payload.value.controllerVersion}) does not know probe sessions and took this stream as the agent's own; upgrade the controller (the agent reconnects by itself)` });
      return true;
    }
    sink({ ok: true, text: `controller ${where} reached over mTLS (${Date.now() - probe.started} ms)` });
    probe.stage = "store";
    probe.alertSentAt = Date.now();
    write(create(AgentMessageSchema, { payload: { case: "alert", value: testAlert(probe.alertId, probe.alertSentAt) } }));
    return false;
  }
  if (probe.stage === "store" && payload.case === "alertAck" && payload.value.alertId === probe.alertId) {
    sink({ ok: true, text: `alert stored and acknowledged by the controller (${Date.now() - probe.alertSentAt} ms)` });
    probe.stage = "deliver";
    return false;
  }
  if (probe.stage === "deliver" && payload.case === "probeReport" && payload.value.alertId === probe.alertId) {
    probe.stage = "done";
    const hops = payload.value.hops;
    if (hops.length === 0) {
      probe.ok = false;
      sink({ ok: false, text: "the controller reported no delivery hop" });
    }
    for (const hop of hops) {
      const line = probeHopLine(hop);
      if (!line.ok) probe.ok = false;
      sink(line);
    }
    return true;
  }
  return false;
}

function testAlert(id: string, at: number) {
  return create(AlertSchema, {
    id,
    revision: 1,
    severity: Severity.INFO,
    state: AlertState.OPEN,
    detectedAt: timestampFromMs(at),
    updatedAt: timestampFromMs(at),
    summary: "test alert (secarc test-alert)",
  });
}

export const testAlertCommand: Command = {
  name: "test-alert",
  summary: "send a test alert through agent → controller → Telegram and report each hop",
  usage: `Usage: secarc test-alert --config FILE [--timeout DURATION]

Run on an agent host with the agent's config. Connects to the controller with
the agent's certificate on a probe session (the running agent stays
connected and keeps its actions), sends a test alert and prints each hop with
its timing — for each endpoint of controller.address in turn:

  ✔ agent config and certificate (web-1, expires in 364 days)
  ✔ controller 10.0.0.1:7443 reached over mTLS (42 ms)
  ✔ alert stored and acknowledged by the controller (5 ms)
  ✔ Telegram: message 42 sent to chat -100123 (310 ms)

A failing hop is printed with ✘ and the reason (TLS error explained,
controller unreachable, what Telegram answered). Telegram shows the test
alert as a test message without buttons; it is not listed in /alerts.

Options:
  -c, --config FILE     agent config (YAML or JSON); e.g. /etc/secarc/agent.yaml
  -t, --timeout DURATION
                        give up on an endpoint after this long, e.g. "20s" (default: 20s)
  -h, --help            show this help

Exit status: 0 every hop succeeded, 1 a hop failed, 2 usage error.
`,
  async run(args) {
    const { values } = parseCommandLine("test-alert", args, { config: { type: "string", short: "c" }, timeout: { type: "string", short: "t" } }, false);
    if (!values.config) throw usageError("secarc test-alert: --config FILE is required");
    let timeoutMs = DEFAULT_TIMEOUT_MS;
    if (values.timeout !== undefined) {
      try {
        timeoutMs = parseDuration(values.timeout);
      } catch (err) {
        throw usageError(`secarc test-alert: --timeout: ${describeError(err)}`);
      }
      if (timeoutMs <= 0) throw usageError("secarc test-alert: --timeout must be above 0");
    }
    const ok = await runTestAlert({
      configPath: values.config,
      timeoutMs,
      sink: (line) => void process.stdout.write(`${line.ok ? "✔" : "✘"} ${line.text}\n`),
    });
    return ok ? 0 : 1;
  },
};
