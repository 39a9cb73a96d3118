import { durationMs } from "@bufbuild/protobuf/wkt";
import type { HostFacts } from "../../gen/secarc/v1/agent_service_pb.js";

/**
 * An agent's host as its last Hello described it (Hello.host_facts), as the
 * store keeps it and /status and `secarc status` show it. Agent text: every
 * string is cut to 200 characters here, escaped where it is shown.
 */
export interface HostFactsRecord {
  osName: string;
  osVersion: string;
  kernel: string;
  architecture: string;
  /** When the host booted, on the controller's clock (Hello's arrival minus the uptime it reported); undefined when not reported. */
  bootedAt: Date | undefined;
  memoryTotalBytes: number;
  cpuModel: string;
  cpuCores: number;
  cpuPhysicalCores: number;
  machine: string;
}

const MAX_TEXT = 200;
const text = (value: string): string => value.slice(0, MAX_TEXT);

/** The record for a Hello's facts received at `receivedAt`; undefined for a Hello without them. */
export function hostFactsRecord(facts: HostFacts | undefined, receivedAt: Date): HostFactsRecord | undefined {
  if (!facts) return undefined;
  const uptimeMs = facts.uptime ? durationMs(facts.uptime) : undefined;
  return {
    osName: text(facts.osName),
    osVersion: text(facts.osVersion),
    kernel: text(facts.kernel),
    architecture: text(facts.architecture),
    bootedAt: uptimeMs !== undefined && uptimeMs > 0 && Number.isFinite(uptimeMs) ? new Date(receivedAt.getTime() - uptimeMs) : undefined,
    memoryTotalBytes: Number(facts.memoryTotalBytes),
    cpuModel: text(facts.cpuModel),
    cpuCores: facts.cpuCores,
    cpuPhysicalCores: facts.cpuPhysicalCores,
    machine: text(facts.machine),
  };
}

/** The record as the store writes it (JSON; the boot time in Unix ms). */
export function encodeHostFacts(record: HostFactsRecord | undefined): string | null {
  if (!record) return null;
  return JSON.stringify({ ...record, bootedAt: record.bootedAt?.getTime() });
}

/** The stored JSON back into a record; undefined for none or for text that is not a record. */
export function decodeHostFacts(stored: string | null | undefined): HostFactsRecord | undefined {
  if (!stored) return undefined;
  try {
    const v = JSON.parse(stored) as Partial<Record<keyof HostFactsRecord, unknown>>;
    const str = (x: unknown): string => (typeof x === "string" ? x : "");
    const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);
    return {
      osName: str(v.osName),
      osVersion: str(v.osVersion),
      kernel: str(v.kernel),
      architecture: str(v.architecture),
      bootedAt: typeof v.bootedAt === "number" ? new Date(v.bootedAt) : undefined,
      memoryTotalBytes: num(v.memoryTotalBytes),
      cpuModel: str(v.cpuModel),
      cpuCores: num(v.cpuCores),
      cpuPhysicalCores: num(v.cpuPhysicalCores),
      machine: str(v.machine),
    };
  } catch {
    return undefined;
  }
}

/** The parts operators read, in plain text (not escaped); empty strings for what is unknown. */
export interface HostFactsParts {
  /** "Debian GNU/Linux 12 (bookworm)". */
  os: string;
  /** "6.1.0-18-amd64 x64". */
  kernel: string;
  /** "AMD EPYC 7543 ×8" (logical CPUs; physical cores in brackets when they differ). */
  cpu: string;
  /** "31.3 GiB". */
  memory: string;
  /** "12 d 3 h", from the boot time to `now`. */
  uptime: string;
  machine: string;
}

/** "12 d 3 h", "3 h 5 min", "4 min". */
export function formatUptime(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes % 60} min`;
  return `${minutes} min`;
}

/** "31.3 GiB", "512 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}

export function hostFactsParts(record: HostFactsRecord, now: number): HostFactsParts {
  const join = (...parts: string[]): string => parts.filter(Boolean).join(" ");
  const physical = record.cpuPhysicalCores > 0 && record.cpuPhysicalCores !== record.cpuCores ? ` (${record.cpuPhysicalCores} cores)` : "";
  return {
    os: join(record.osName, record.osVersion),
    kernel: join(record.kernel, record.architecture),
    cpu: join(record.cpuModel, record.cpuCores > 0 ? `×${record.cpuCores}${physical}` : ""),
    memory: record.memoryTotalBytes > 0 ? formatBytes(record.memoryTotalBytes) : "",
    uptime: record.bootedAt ? formatUptime(now - record.bootedAt.getTime()) : "",
    machine: record.machine,
  };
}

/** One line in plain text: "Debian GNU/Linux 12 (bookworm) · kernel 6.1.0 x64 · AMD EPYC ×2 · 23.5 GiB · up 3 h 5 min". */
export function describeHostFacts(record: HostFactsRecord, now: number, words: { kernel: string; up: string } = { kernel: "kernel", up: "up" }): string {
  const p = hostFactsParts(record, now);
  return [p.os, p.kernel && `${words.kernel} ${p.kernel}`, p.cpu, p.memory, p.uptime && `${words.up} ${p.uptime}`, p.machine].filter(Boolean).join(" · ");
}
