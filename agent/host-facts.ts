import { arch, cpus, networkInterfaces, release, totalmem, uptime } from "node:os";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { HostFactsSchema, type HostFacts } from "../gen/secarc/v1/agent_service_pb.js";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/log.js";

/**
 * What the agent says about its host in Hello (field 10, HostFacts): OS,
 * kernel, uptime, memory, CPU. systeminformation gives the distribution,
 * the physical cores and the machine's name, but can take a second or more
 * (it runs lscpu, reads DMI); it is asked once at start, in the background,
 * and nothing waits for it: until it answers (or when it fails, or misses
 * the deadline) Hello carries what node:os knows at once — kernel,
 * architecture, memory, CPU model and logical cores. The uptime is read at
 * each Hello.
 */

/** The facts systeminformation adds to node:os's (empty strings / 0 when unknown). */
export interface GatheredFacts {
  osName: string;
  osVersion: string;
  cpuModel: string;
  cpuCores: number;
  cpuPhysicalCores: number;
  machine: string;
}

export interface HostFactsOptions {
  logger: Logger;
  /** How long systeminformation may take before a warning says Hello goes without its facts. Default: 10 s. */
  deadlineMs?: number;
  /** Where the facts come from. Default: systeminformation (loaded lazily). */
  gather?: () => Promise<GatheredFacts>;
}

export interface HostFactsReader {
  /** The facts for a Hello now: never waits. */
  hello(): HostFacts;
  /** Settles once the gathering ended (answered, failed or missed the deadline). */
  settled: Promise<void>;
}

export const HOST_FACTS_DEADLINE_MS = 10_000;
/** The controller cuts longer strings; the agent does the same before sending. */
const MAX_TEXT = 200;
const cut = (text: string): string => text.trim().slice(0, MAX_TEXT);

/** Starts gathering at once; hello() reads whatever is known by then. */
export function createHostFacts(options: HostFactsOptions): HostFactsReader {
  const deadlineMs = options.deadlineMs ?? HOST_FACTS_DEADLINE_MS;
  const gather = options.gather ?? gatherWithSysteminformation;
  let gathered: GatheredFacts | undefined;
  let late = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      late = true;
      options.logger.warn({ deadlineMs }, "host facts: systeminformation did not answer in time; Hello carries what node:os knows");
      resolve();
    }, deadlineMs);
    timer.unref();
  });
  const answered = gather().then(
    (facts) => {
      gathered = facts;
      if (late) options.logger.info("host facts: systeminformation answered late; the next Hello carries its facts");
    },
    (err: unknown) => {
      if (!late) options.logger.warn({ error: describeError(err) }, "host facts: systeminformation failed; Hello carries what node:os knows");
    },
  );
  const settled = Promise.race([answered, deadline]).finally(() => clearTimeout(timer));
  return {
    settled,
    hello: () => hostFactsMessage(gathered),
  };
}

/** The HostFacts message: node:os's facts, completed by systeminformation's when known. */
export function hostFactsMessage(gathered: GatheredFacts | undefined): HostFacts {
  const cores = cpus();
  return create(HostFactsSchema, {
    osName: cut(gathered?.osName ?? ""),
    osVersion: cut(gathered?.osVersion ?? ""),
    kernel: cut(release()),
    architecture: arch(),
    uptime: durationFromMs(Math.round(uptime() * 1000)),
    memoryTotalBytes: BigInt(totalmem()),
    cpuModel: cut(gathered?.cpuModel || (cores[0]?.model ?? "")),
    cpuCores: gathered?.cpuCores || cores.length,
    cpuPhysicalCores: gathered?.cpuPhysicalCores ?? 0,
    machine: cut(gathered?.machine ?? ""),
  });
}

/** Asks systeminformation for the OS, the CPU and the machine (three calls in parallel). */
export async function gatherWithSysteminformation(): Promise<GatheredFacts> {
  const { default: si } = await import("systeminformation");
  const [os, cpu, system] = await Promise.all([si.osInfo(), si.cpu(), si.system()]);
  const version = [os.release, os.codename ? `(${os.codename})` : ""].filter(Boolean).join(" ");
  return {
    osName: os.distro ?? "",
    osVersion: version,
    cpuModel: [cpu.manufacturer, cpu.brand].filter(Boolean).join(" "),
    cpuCores: cpu.cores ?? 0,
    cpuPhysicalCores: cpu.physicalCores ?? 0,
    machine: [system.manufacturer, system.model].filter((s) => s && s !== "-").join(" "),
  };
}

/** The host's own non-loopback addresses, for Hello (informational). */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((info) => !info.internal)
    .map((info) => info.address);
}
