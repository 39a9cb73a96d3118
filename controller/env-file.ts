import { readFileSync } from "node:fs";
import { SecarcError, describeError } from "../common/errors.js";

/** The variables the controller takes from its environment file. */
export const ENV_FILE_KEYS = ["TELEGRAM_BOT_TOKEN"] as const;

/**
 * Reads a systemd-style environment file (KEY=VALUE lines, `#` comments,
 * values optionally in single or double quotes) and returns the keys the
 * controller reads (ENV_FILE_KEYS). Read at start and again on SIGHUP, so a
 * token fixed in the file is used without a restart (systemd reads
 * EnvironmentFile= only when it starts the process).
 */
export function readEnvFile(path: string): Partial<Record<(typeof ENV_FILE_KEYS)[number], string>> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new SecarcError("config_unreadable", `cannot read the environment file ${path}: ${describeError(err)}`, { cause: err });
  }
  const values: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    if (!(ENV_FILE_KEYS as readonly string[]).includes(key)) continue;
    values[key] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return values;
}
