import { readFileSync, statSync } from "node:fs";
import { toJson } from "@bufbuild/protobuf";
import { SecarcError, describeError } from "../common/errors.js";
import { AlertKind, AlertSchema, AlertState, Severity, type Alert } from "../gen/secarc/v1/alert_pb.js";
import type { DetectorsConfig } from "../agent/detectors/config.js";
import { detectorsDefaults } from "../agent/detectors/config-defaults.js";
import { PARALLEL_DETECTORS, PARALLEL_MIN_BYTES, REPLAY_DETECTORS, isParallelDetector, isReplayDetector, replayFile, type ReplayStats } from "../agent/detectors/replay.js";
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
 * to the agent and are not looked at here. Without a file, the defaults:
 * the config schemas (zod) and the YAML parser are loaded only for a file.
 */
export async function loadDetectorsConfig(path: string | undefined): Promise<DetectorsConfig> {
  if (path === undefined) return detectorsDefaults();
  const [{ parseYaml }, { parseConfig }, { detectorsConfigSchema }] = await Promise.all([
    import("../common/yaml-lazy.js"),
    import("../common/config.js"),
    import("../agent/detectors/config.js"),
  ]);
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
  usage: `Usage: secarc replay <detector> <file> [--config FILE] [--threads N]

Runs a detector over a past log as fast as it can, using the log's own
timestamps, and prints one JSON line per alert revision (kind, severity,
state, subject). A summary (lines, malformed, alerts, lines/s of wall and of
CPU time, peak RSS)
goes to standard error. Use it to tune thresholds.

Detectors: ${REPLAY_DETECTORS.join(", ")}

${PARALLEL_DETECTORS.join(", ")} reads files of ${PARALLEL_MIN_BYTES / 1024 / 1024} MiB or more on every core
(byte ranges on line boundaries, one window over their events, in order);
the output is the same as on one thread.

Options:
  -c, --config FILE   agent config (or its detectors section) whose settings to use
                      (default: built-in defaults)
  -t, --threads N     threads reading the file, 1 for one thread (default: the cores
                      Node may use, for a large file and a detector that can)
  -h, --help          show this help
`,
  async run(args) {
    const { values, positionals } = parseCommandLine("replay", args, { config: { type: "string", short: "c" }, threads: { type: "string", short: "t" } });
    const [detector, file, ...extra] = positionals;
    if (detector === undefined || file === undefined) throw usageError("secarc replay: a detector and a file are required");
    if (extra.length > 0) throw usageError(`secarc replay: unexpected argument "${extra[0]}"`);
    if (!isReplayDetector(detector)) {
      throw usageError(`secarc replay: unknown detector "${detector}" (one of: ${REPLAY_DETECTORS.join(", ")})`);
    }
    const threads = values.threads === undefined ? undefined : Number(values.threads);
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 256)) {
      throw usageError(`secarc replay: --threads must be a whole number from 1 to 256, not "${values.threads}"`);
    }
    const config = await loadDetectorsConfig(values.config);
    let startTime = 0;
    let size = 0;
    try {
      const stat = statSync(file);
      startTime = stat.mtimeMs;
      size = stat.size;
    } catch {
      // replayFile reports the unreadable file
    }
    const out: string[] = [];
    const flush = () => {
      if (out.length > 0) process.stdout.write(`${out.join("\n")}\n`);
      out.length = 0;
    };
    const onAlert = (alert: Alert) => {
      out.push(replayAlertLine(alert));
      if (out.length >= 1000) flush();
    };
    const parallel = threads !== 1 && (threads !== undefined || size >= PARALLEL_MIN_BYTES);
    const stats: ReplayStats = isParallelDetector(detector) && parallel
      ? await (await import("../agent/detectors/replay-parallel.js")).replayFileParallel({ detector, path: file, config, startTime, threads, onAlert })
      : replayFile({ detector, path: file, config, startTime, onAlert });
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
        threads: stats.threads,
      })}\n`,
    );
    return 0;
  },
};
