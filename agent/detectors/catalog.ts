import { SHARED_KINDS, type AgentKind } from "../../common/alert-kinds.js";
import type { Answer } from "../../gen/secarc/v1/action_pb.js";
import { AlertKind } from "../../gen/secarc/v1/alert_pb.js";
import type { DetectorsConfig } from "./config.js";
import { createCpuSustainedDetector } from "./cpu-sustained.js";
import { sshLineDeps, sshTickMs, type DetectorDeps } from "./detector-deps.js";
import type { Detector } from "./detector.js";
import { createLogDetector, sshLogSource } from "./log-detector.js";
import { createNginx404Processor } from "./nginx-404.js";
import { createSshBruteForceProcessor } from "./ssh-brute-force.js";
import { createSshSessionProcessor } from "./ssh-session.js";
import { processStartTicks, resolveSshdPid } from "./sshd-pid-resolver.js";
import { compileWebFormat } from "./web-log-format.js";

/**
 * The agent's catalog of alert kinds: for every kind an agent raises, the
 * detector that raises it (its name, whether the config enables it, how to
 * build it), whether it reads logs (then `secarc replay` runs it: replay.ts),
 * and the answers it offers (common/alert-kinds.ts, shared with the
 * controller). The registry, replay and the mute read it; a new AlertKind
 * fails the build here until it has an entry.
 */
export interface AgentKindEntry {
  /** The detector's name, as in logs, Hello's sources and `secarc replay`. */
  detector: string;
  /** The answers its alerts offer, in display order. */
  answers: readonly Answer[];
  enabled(config: DetectorsConfig): boolean;
  create(config: DetectorsConfig, deps: DetectorDeps): Detector;
  /** True when it reads log lines: then `secarc replay` runs its line processor (replay.ts holds those; replay.test.ts checks). */
  logDetector?: true;
}

export const AGENT_KINDS = {
  [AlertKind.SSH_SESSION]: {
    detector: "ssh-session",
    answers: SHARED_KINDS[AlertKind.SSH_SESSION].answers,
    enabled: (c) => c.sshSession.enabled,
    logDetector: true,
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
  [AlertKind.SSH_BRUTE_FORCE]: {
    detector: "ssh-brute-force",
    answers: SHARED_KINDS[AlertKind.SSH_BRUTE_FORCE].answers,
    enabled: (c) => c.sshBruteForce.enabled,
    logDetector: true,
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
  [AlertKind.CPU_SUSTAINED]: {
    detector: "cpu-sustained",
    answers: SHARED_KINDS[AlertKind.CPU_SUSTAINED].answers,
    enabled: (c) => c.cpuSustained.enabled,
    create: (c, deps) => {
      const cpuDeps: Parameters<typeof createCpuSustainedDetector>[1] = { topProcesses: c.cpuSustained.topProcesses };
      if (deps.cpuSampler) cpuDeps.sampler = deps.cpuSampler;
      if (deps.cpuSchedule) cpuDeps.schedule = deps.cpuSchedule;
      return createCpuSustainedDetector(c.cpuSustained, cpuDeps);
    },
  },
  [AlertKind.HTTP_404_BURST]: {
    detector: "nginx-404",
    answers: SHARED_KINDS[AlertKind.HTTP_404_BURST].answers,
    enabled: (c) => c.nginx404.enabled,
    logDetector: true,
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
} as const satisfies Record<AgentKind, AgentKindEntry>;

type Entries = typeof AGENT_KINDS;

/** The detectors' names, in kind order (the order they are built in). */
export type DetectorName = Entries[AgentKind]["detector"];

/** The catalog's entries in kind order. */
export const AGENT_KIND_ENTRIES: ReadonlyArray<AgentKindEntry & { kind: AgentKind; detector: DetectorName }> = (Object.keys(AGENT_KINDS) as unknown as string[])
  .map(Number)
  .sort((a, b) => a - b)
  .map((kind) => ({ ...AGENT_KINDS[kind as AgentKind], kind: kind as AgentKind }));
