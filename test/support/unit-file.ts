import { readFileSync } from "node:fs";

/** A systemd unit file: section → key → values in order (a key may repeat). */
export type UnitFile = Map<string, Map<string, string[]>>;

/** Parses the subset of unit syntax the SecARC units use (no line continuations, no quoting in ExecStart). */
export function parseUnitFile(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.endsWith("\\")) throw new Error(`unit: line continuations are not supported: ${line}`);
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 0) throw new Error(`unit: not a key=value line inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    const values = section.get(key) ?? [];
    values.push(line.slice(eq + 1).trim());
    section.set(key, values);
  }
  return unit;
}

/** How systemd would start the unit's service, for running it by hand where systemd is not PID 1. */
export interface ServicePlan {
  argv: string[];
  user: string;
  group: string | undefined;
  /** Environment= pairs, then the contents of each EnvironmentFile= (a missing "-" file is skipped). */
  env: Record<string, string>;
  /** StateDirectory= entries, relative to /var/lib. */
  stateDirectories: string[];
  stateDirectoryMode: number;
  umask: number | undefined;
}

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`EnvironmentFile: not NAME=value: ${line}`);
    env[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
  }
  return env;
}

/** The plan of a unit file on disk. */
export function servicePlan(path: string): ServicePlan {
  const unit = parseUnitFile(readFileSync(path, "utf8"));
  const service = unit.get("Service");
  if (!service) throw new Error(`${path}: no [Service] section`);
  const one = (key: string): string | undefined => service.get(key)?.at(-1);
  const execStart = service.get("ExecStart");
  if (!execStart || execStart.length !== 1) throw new Error(`${path}: expected exactly one ExecStart=`);
  if (/["'%$]/.test(execStart[0]!)) throw new Error(`${path}: ExecStart with quoting or specifiers is not supported here`);
  const env: Record<string, string> = {};
  for (const pairs of service.get("Environment") ?? []) {
    for (const pair of pairs.split(/\s+/)) {
      const eq = pair.indexOf("=");
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  for (const entry of service.get("EnvironmentFile") ?? []) {
    const optional = entry.startsWith("-");
    const file = optional ? entry.slice(1) : entry;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if (optional) continue;
      throw err;
    }
    Object.assign(env, parseEnvFile(text));
  }
  const umask = one("UMask");
  return {
    argv: execStart[0]!.split(/\s+/),
    user: one("User") ?? "root",
    group: one("Group"),
    env,
    stateDirectories: (service.get("StateDirectory") ?? []).flatMap((v) => v.split(/\s+/)),
    stateDirectoryMode: Number.parseInt(one("StateDirectoryMode") ?? "0755", 8),
    umask: umask === undefined ? undefined : Number.parseInt(umask, 8),
  };
}
