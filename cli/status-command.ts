import { request } from "node:http";
import { dirname, join } from "node:path";
import { loadConfigFile } from "../common/config.js";
import { describeError } from "../common/errors.js";
import type { StatusReport } from "../controller/admin/status-report.js";
import { controllerConfigSchema } from "../controller/config.js";
import type { Command } from "./command.js";
import { parseCommandLine } from "./command.js";

const DEFAULT_CONFIG = "/etc/secarc/controller.yaml";

/** Exit codes, as monitoring plugins read them. */
export const STATUS_OK = 0;
export const STATUS_PROBLEM = 1;
export const STATUS_UNREACHABLE = 3;

export const statusCommand: Command = {
  name: "status",
  summary: "show the controller's state: agents, Telegram, store, queues (exit 1 when something is wrong)",
  usage: `Usage: secarc status [--config FILE | --socket PATH] [--json]

Asks the controller running on this host, through its admin socket (a unix
socket beside the store, mode 0600: run it as the controller's user or
root), for its state: agents online and offline, Telegram (token refused,
unreachable, sends failing), the store, and the queue depths.

Exit code: 0 when all is well, 1 when something is wrong (each problem is
listed), 3 when the controller cannot be asked (not running, no access).

Options:
  -c, --config FILE   controller config, to find admin.socket (default: ${DEFAULT_CONFIG})
      --socket PATH   the admin socket itself (instead of --config)
      --json          print the report as JSON (for scripts)
  -h, --help          show this help
`,
  async run(args) {
    const { values } = parseCommandLine("status", args, { config: { type: "string", short: "c" }, socket: { type: "string" }, json: { type: "boolean" } }, false);
    let socket = values.socket;
    if (!socket) {
      const config = loadConfigFile(controllerConfigSchema, values.config ?? DEFAULT_CONFIG);
      socket = config.admin.socket ?? join(dirname(config.store.path), "admin.sock");
    }
    let report: StatusReport;
    try {
      report = await fetchStatus(socket);
    } catch (err) {
      process.stderr.write(`secarc status: cannot ask the controller at ${socket}: ${describeError(err)}\n`);
      return STATUS_UNREACHABLE;
    }
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    return report.ok ? STATUS_OK : STATUS_PROBLEM;
  },
};

/** GET /status on the admin socket, bounded to 10 s. */
export function fetchStatus(socketPath: string): Promise<StatusReport> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/status", method: "GET", timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) return reject(new Error(`the controller answered ${res.statusCode}: ${body.trim()}`));
        try {
          resolve(JSON.parse(body) as StatusReport);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject);
    req.end();
  });
}

/** The report for a terminal. */
export function formatStatus(report: StatusReport): string {
  const lines = [`SecARC controller ${report.controller.version} (pid ${report.controller.pid}), up ${report.controller.uptimeSeconds} s: ${report.ok ? "OK" : "PROBLEMS"}`];
  for (const problem of report.problems) lines.push(`  ! ${problem}`);
  lines.push("", `Agents (${report.agents.filter((a) => a.online).length}/${report.agents.length} online):`);
  for (const a of report.agents) {
    const state = a.revoked ? "revoked" : a.online ? "online" : "offline";
    const skew = a.clockSkewMs !== undefined ? `  clock ${a.clockSkewMs >= 0 ? "+" : ""}${Math.round(a.clockSkewMs / 1000)} s` : "";
    lines.push(`  ${a.agentId.padEnd(20)} ${state.padEnd(8)} last seen ${a.lastSeen}  ${a.hostname} ${a.version}${skew}`);
    if (a.host?.summary) lines.push(`      host: ${a.host.summary}`);
    for (const u of a.unavailableAnswers) lines.push(`      not offered: ${u.answer}: ${u.reason}`);
  }
  const t = report.telegram;
  lines.push("", `Telegram: ${t.configured ? t.state : "not configured"}${t.detail ? ` — ${t.detail}` : ""}`);
  if (t.retryAt) lines.push(`  next attempt ${t.retryAt}`);
  if (t.sendsFailing) lines.push(`  sends failing: ${t.lastError ?? "?"}`);
  const free = report.store.freeBytes !== undefined ? `, ${Math.floor(report.store.freeBytes / 1_048_576)} MiB free` : "";
  lines.push(`Store: ${report.store.path}: ${report.store.state}, ${report.store.detail}${free}${report.store.openAlerts !== undefined ? `, ${report.store.openAlerts} open alerts` : ""}`);
  lines.push(`Queues: telegram ${report.queues.telegram ?? "-"}, unfinished actions ${report.queues.unfinishedActions ?? "-"}`, "");
  return lines.join("\n");
}
