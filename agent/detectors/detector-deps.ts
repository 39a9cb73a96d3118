import type { Logger } from "../../common/log.js";
import type { CpuSampler } from "./cpu-sampler.js";
import type { Schedule } from "./cpu-sustained.js";
import type { ProcessStartProbe, SshdPidResolver } from "./ssh-session.js";
import { createSshdEvidence } from "./sshd-evidence.js";
import type { SshdEvidence } from "./ssh-record-processor.js";

/** What the detectors are built with; every default is the real thing. */
export interface DetectorDeps {
  logger: Logger;
  now: () => number;
  /** CPU sampler (tests). Default: /proc. */
  cpuSampler?: CpuSampler;
  /** CPU schedule (tests). Default: node-cron. */
  cpuSchedule?: Schedule;
  /** How to find sshd's PID for log lines without one. Default: /proc lookup. */
  resolveSshdPid?: SshdPidResolver;
  /** Whether a session's sshd still runs (its start time). Default: /proc lookup. */
  processStart?: ProcessStartProbe;
  /** What sshd's connections are, for lines that may be forged. Default: /proc. */
  sshdEvidence?: (now: () => number) => SshdEvidence;
  /** Whether journald has entries of some units (SSH source "auto"). Default: journalctl. */
  journalProbe?: (units: readonly string[]) => Promise<boolean>;
}

/** Raw-newline files are checked against sshd's connections, sampled 4 times a second; else the usual second. */
export function sshTickMs(source: { rawNewlines: boolean; source: string }): number {
  return source.rawNewlines || source.source !== "file" ? 250 : 1000;
}

/** One /proc evidence per agent, shared by both SSH detectors (one scan serves both). */
const sharedEvidence = new WeakMap<DetectorDeps, SshdEvidence>();

export function sshLineDeps(source: { rawNewlines: boolean }, now: () => number, deps: DetectorDeps) {
  // Every live SSH source gets /proc evidence: journald entries from sshd's stderr need it too.
  let evidence = sharedEvidence.get(deps);
  if (evidence === undefined) {
    evidence = (deps.sshdEvidence ?? ((clock) => createSshdEvidence({ now: clock })))(now);
    sharedEvidence.set(deps, evidence);
  }
  return { rawNewlines: source.rawNewlines, evidence };
}

