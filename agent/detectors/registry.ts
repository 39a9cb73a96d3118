import type { Logger } from "../../common/log.js";
import { AlertKind, type DetectorSource } from "../../gen/secarc/v1/alert_pb.js";
import type { DetectorsConfig } from "./config.js";
import type { CpuSampler } from "./cpu-sampler.js";
import { createCpuSustainedDetector, type Schedule } from "./cpu-sustained.js";
import type { Detector } from "./detector.js";
import { createLogDetector, sshLogSource } from "./log-detector.js";
import { createNginx404Processor } from "./nginx-404.js";
import { compileWebFormat } from "./web-log-format.js";
import { sourceToProto } from "./source-state.js";
import { createSshBruteForceProcessor } from "./ssh-brute-force.js";
import { createSshSessionProcessor, type ProcessStartProbe, type SshdPidResolver } from "./ssh-session.js";
import { createSshdEvidence } from "./sshd-evidence.js";
import { processStartTicks, resolveSshdPid } from "./sshd-pid-resolver.js";
import type { SshdEvidence } from "./ssh-record-processor.js";

/**
 * The detectors, by name. Each entry says whether the config enables it and
 * how to build it; `DETECTOR_FOR_KIND` maps every alert kind of the proto to
 * the detector that raises it, so a new AlertKind fails the build until a
 * detector handles it.
 */

export const DETECTOR_NAMES = ["ssh-session", "ssh-brute-force", "cpu-sustained", "nginx-404"] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

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
function sshTickMs(source: { rawNewlines: boolean; source: string }): number {
  return source.rawNewlines || source.source !== "file" ? 250 : 1000;
}

/** One /proc evidence per agent, shared by both SSH detectors (one scan serves both). */
const sharedEvidence = new WeakMap<DetectorDeps, SshdEvidence>();

function sshLineDeps(source: { rawNewlines: boolean }, now: () => number, deps: DetectorDeps) {
  // Every live SSH source gets /proc evidence: journald entries from sshd's stderr need it too.
  let evidence = sharedEvidence.get(deps);
  if (evidence === undefined) {
    evidence = (deps.sshdEvidence ?? ((clock) => createSshdEvidence({ now: clock })))(now);
    sharedEvidence.set(deps, evidence);
  }
  return { rawNewlines: source.rawNewlines, evidence };
}

interface DetectorEntry {
  enabled(config: DetectorsConfig): boolean;
  create(config: DetectorsConfig, deps: DetectorDeps): Detector;
}

export const DETECTOR_FACTORIES = {
  "ssh-session": {
    enabled: (c) => c.sshSession.enabled,
    create: (c, deps) =>
      createLogDetector({
        name: "ssh-session",
        kinds: [AlertKind.SSH_SESSION],
        source: sshLogSource(c.sshSession),
        ...(deps.journalProbe ? { journalProbe: deps.journalProbe } : {}),
        tickMs: sshTickMs(c.sshSession),
        maxLineBytes: c.maxLineBytes,
        pollMs: c.pollInterval,
        makeProcessor: (p) =>
          createSshSessionProcessor(c.sshSession, {
            ...p,
            ...sshLineDeps(c.sshSession, p.now, deps),
            resolvePid: deps.resolveSshdPid ?? resolveSshdPid,
            processStart: deps.processStart ?? processStartTicks,
          }),
      }),
  },
  "ssh-brute-force": {
    enabled: (c) => c.sshBruteForce.enabled,
    create: (c, deps) =>
      createLogDetector({
        name: "ssh-brute-force",
        kinds: [AlertKind.SSH_BRUTE_FORCE],
        source: sshLogSource(c.sshBruteForce),
        ...(deps.journalProbe ? { journalProbe: deps.journalProbe } : {}),
        tickMs: sshTickMs(c.sshBruteForce),
        maxLineBytes: c.maxLineBytes,
        pollMs: c.pollInterval,
        makeProcessor: (p) => createSshBruteForceProcessor(c.sshBruteForce, { ...p, ...sshLineDeps(c.sshBruteForce, p.now, deps) }),
      }),
  },
  "cpu-sustained": {
    enabled: (c) => c.cpuSustained.enabled,
    create: (c, deps) => {
      const cpuDeps: Parameters<typeof createCpuSustainedDetector>[1] = { topProcesses: c.cpuSustained.topProcesses };
      if (deps.cpuSampler) cpuDeps.sampler = deps.cpuSampler;
      if (deps.cpuSchedule) cpuDeps.schedule = deps.cpuSchedule;
      return createCpuSustainedDetector(c.cpuSustained, cpuDeps);
    },
  },
  "nginx-404": {
    enabled: (c) => c.nginx404.enabled,
    create: (c) => {
      const compiled = compileWebFormat(c.nginx404.format, c.nginx404.jsonFields);
      return createLogDetector({
        name: "nginx-404",
        kinds: [AlertKind.HTTP_404_BURST],
        source: { type: "files", patterns: c.nginx404.paths },
        maxLineBytes: c.maxLineBytes,
        pollMs: c.pollInterval,
        makeProcessor: (p, file) => createNginx404Processor({ ...c.nginx404, compiled, logFile: file }, p),
      });
    },
  },
} satisfies Record<DetectorName, DetectorEntry>;

/** Which detector raises each alert kind (AGENT_OFFLINE and DETECTOR_BLIND are the controller's own; agents never raise them). */
export const DETECTOR_FOR_KIND = {
  [AlertKind.SSH_SESSION]: "ssh-session",
  [AlertKind.SSH_BRUTE_FORCE]: "ssh-brute-force",
  [AlertKind.CPU_SUSTAINED]: "cpu-sustained",
  [AlertKind.HTTP_404_BURST]: "nginx-404",
} as const satisfies Record<Exclude<AlertKind, AlertKind.UNSPECIFIED | AlertKind.AGENT_OFFLINE | AlertKind.DETECTOR_BLIND>, DetectorName>;

/** Builds the detectors the config enables, in DETECTOR_NAMES order. */
export function createDetectors(config: DetectorsConfig, deps: DetectorDeps): Detector[] {
  return DETECTOR_NAMES.filter((name) => DETECTOR_FACTORIES[name].enabled(config)).map((name) => DETECTOR_FACTORIES[name].create(config, deps));
}

/** Each detector's source as proto, for Hello and Heartbeat (detectors without one are left out). */
export function reportSources(detectors: readonly Detector[]): DetectorSource[] {
  return detectors.flatMap((d) => {
    const source = d.source?.();
    return source ? [sourceToProto(d.name, source)] : [];
  });
}
