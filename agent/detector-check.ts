import { silentLogger, type Logger } from "../common/log.js";
import type { AgentConfig } from "./config.js";
import type { Detector } from "./detectors/detector.js";
import { createDetectors, type DetectorDeps } from "./detectors/registry.js";
import { describeSourceReport, isBlind, type SourceReport } from "./detectors/source-state.js";

/**
 * `secarc agent --check`: a dry start of the detectors. Each enabled
 * detector is started as the agent would start it (same source choice,
 * same files, journalctl), its alerts discarded; once their sources have
 * settled (bounded wait) each one's source is reported and they are
 * stopped. Nothing connects to the controller and nothing is written.
 */

export interface DetectorCheck {
  name: string;
  source: SourceReport | undefined;
  /** Start failed: the error. */
  error?: string;
}

export interface DetectorCheckOptions {
  config: AgentConfig;
  /** Default: built from config.detectors. */
  detectors?: Detector[];
  deps?: Partial<DetectorDeps>;
  logger?: Logger;
  now?: () => number;
  /** Longest wait for sources to settle (journalctl starting). Default: 3000 ms. */
  settleMs?: number;
}

const unsettled = (report: SourceReport | undefined) => report !== undefined && report.state === "waiting" && / not (started|opened yet)$/.test(report.detail);

export async function checkDetectors(options: DetectorCheckOptions): Promise<DetectorCheck[]> {
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger();
  const detectors = options.detectors ?? createDetectors(options.config.detectors, { logger, now, ...options.deps });
  const errors = new Map<string, string>();
  const started: Detector[] = [];
  for (const detector of detectors) {
    try {
      await detector.start({ emit: () => {}, onFailure: (err) => errors.set(detector.name, String((err as Error)?.message ?? err)), logger, now });
      started.push(detector);
    } catch (err) {
      errors.set(detector.name, (err as Error).message);
    }
  }
  const deadline = Date.now() + (options.settleMs ?? 3_000);
  while (Date.now() < deadline && started.some((d) => unsettled(d.source?.()))) await new Promise((resolve) => setTimeout(resolve, 50));
  const results = detectors.map((d): DetectorCheck => {
    const error = errors.get(d.name);
    return { name: d.name, source: d.source?.(), ...(error !== undefined ? { error } : {}) };
  });
  await Promise.all(started.map((d) => d.stop().catch(() => {})));
  return results;
}

/** Whether the check found a detector that sees nothing (or did not start). */
export function anyBlind(results: readonly DetectorCheck[]): boolean {
  return results.some((r) => r.error !== undefined || (r.source !== undefined && isBlind(r.source)));
}

/** The printed report: one line per detector, then a verdict. */
export function formatDetectorCheck(results: readonly DetectorCheck[]): string {
  const width = Math.max(8, ...results.map((r) => r.name.length)) + 2;
  const lines = results.map((r) => {
    const what = r.error !== undefined ? `failed to start: ${r.error}` : r.source ? describeSourceReport(r.source) : "running (no source to report)";
    return `${r.name.padEnd(width)}${what}`;
  });
  if (results.length === 0) lines.push("no detector is enabled");
  const blind = results.filter((r) => r.error !== undefined || (r.source !== undefined && isBlind(r.source))).length;
  lines.push(
    blind === 0
      ? `all ${results.length} detectors see their source`
      : `${blind} of ${results.length} detectors see nothing: give them a source, or disable them (detectors.<name>.enabled: false)`,
  );
  return `${lines.join("\n")}\n`;
}
