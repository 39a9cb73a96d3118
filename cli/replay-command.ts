import { readFileSync, statSync } from "node:fs";
import { toJson } from "@bufbuild/protobuf";
import { parseYaml } from "../common/yaml-lazy.js";
import { parseConfig } from "../common/config.js";
import { SecarcError, describeError } from "../common/errors.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../gen/secarc/v1/alert_pb.js";
import { detectorsConfigSchema, type DetectorsConfig } from "../agent/detectors/config.js";
import { REPLAY_DETECTORS, isReplayDetector, replayFile } from "../agent/detectors/replay.js";
import type { Command } from "./command.js";
import { parseCommandLine, usageError } from "./command.js";

/** The subject of an alert as plain JSON (proto field names in lowerCamelCase). */
function subjectJson(alert: Alert): Record<string, unknown> {
  const full = toJson(AlertSchema, alert) as Record<string, unknown>;
  const key = alert.subject.case;
  return key === undefined ? {} : ((full[key] as Record<string, unknown> | undefined) ?? {});
}

/** One output line per alert revision. */
export function replayAlertLine(alert: Alert): string {
  return JSON.stringify({
    id: alert.id,
    revision: alert.revision,
    kind: AlertKind[alert.kind],
    severity: Severity[alert.severity],
    state: AlertState[alert.state],
    summary: alert.summary,
    subject: subjectJson(alert),
  });
}

/**
 * The detector settings of a config file: the `detectors` section of an
 * agent config, or a file that is only that section. Other sections belong
 * to the agent and are not looked at here.
 */
export function loadDetectorsConfig(path: string | undefined): DetectorsConfig {
  if (path === undefined) return detectorsConfigSchema.parse(undefined);
  let value: unknown;
  try {
    value = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new SecarcError("config_unreadable", `cannot read config ${path}: ${describeError(err)}`, { cause: err });
  }
  const section = value !== null && typeof value === "object" && "detectors" in value ? (value as { detectors: unknown }).detectors : value;
  return parseConfig(detectorsConfigSchema, section, path);
}

export const replayCommand: Command = {
  name: "replay",
  summary: "run a detector over a log file and print the alerts it would raise",
  usage: `Usage: secarc replay <detector> <file> [--config FILE]

Runs a detector over a past log as fast as it can, using the log's own
timestamps, and prints one JSON line per alert revision (kind, severity,
state, subject). A summary (lines, malformed, alerts, lines/s of wall and of
CPU time, peak RSS)
goes to standard error. Use it to tune thresholds.

Detectors: ${REPLAY_DETECTORS.join(", ")}

Options:
  -c, --config FILE   agent config (or its detectors section) whose settings to use
                      (default: built-in defaults)
  -h, --help          show this help
`,
  async run(args) {
    const { values, positionals } = parseCommandLine("replay", args, { config: { type: "string", short: "c" } });
    const [detector, file, ...extra] = positionals;
    if (detector === undefined || file === undefined) throw usageError("secarc replay: a detector and a file are required");
    if (extra.length > 0) throw usageError(`secarc replay: unexpected argument "${extra[0]}"`);
    if (!isReplayDetector(detector)) {
      throw usageError(`secarc replay: unknown detector "${detector}" (one of: ${REPLAY_DETECTORS.join(", ")})`);
    }
    const config = loadDetectorsConfig(values.config);
    let startTime = 0;
    try {
      startTime = statSync(file).mtimeMs;
    } catch {
      // replayFile reports the unreadable file
    }
    const out: string[] = [];
    const flush = () => {
      if (out.length > 0) process.stdout.write(`${out.join("\n")}\n`);
      out.length = 0;
    };
    const stats = replayFile({
      detector,
      path: file,
      config,
      startTime,
      onAlert(alert) {
        out.push(replayAlertLine(alert));
        if (out.length >= 1000) flush();
      },
    });
    flush();
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    process.stderr.write(
      `${JSON.stringify({
        detector,
        lines: stats.lines,
        malformed: stats.malformed,
        events: stats.events,
        oversized: stats.oversized,
        alerts: stats.alerts,
        seconds: Number((stats.elapsedMs / 1000).toFixed(3)),
        linesPerSecond: stats.linesPerSecond,
        cpuSeconds: Number((stats.cpuMs / 1000).toFixed(3)),
        linesPerCpuSecond: stats.linesPerCpuSecond,
        peakRssMb: Number(peakRssMb.toFixed(1)),
      })}\n`,
    );
    return 0;
  },
};
