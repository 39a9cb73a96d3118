import { pino, type Logger, type LevelWithSilent, type DestinationStream } from "pino";

export type { Logger } from "pino";

export type LogFormat = "json" | "pretty";

export interface LoggerOptions {
  /** Lowest level written. Default: "info". */
  level?: LevelWithSilent;
  /** "json" (one object per line, for journald and collectors) or "pretty" (for a terminal). Default: "json". */
  format?: LogFormat;
  /** Name of the component, added to every line. */
  name?: string;
  /** Where lines go. Default: standard error. */
  destination?: NodeJS.WritableStream;
}

const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const PLAIN_KEYS = new Set(["level", "time", "pid", "hostname", "name", "msg"]);

/** Renders one pino JSON line as "HH:MM:SS.mmm LEVEL [name] message key=value ...". */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(Number(entry.time)).toISOString().slice(11, 23);
  const level = (LEVEL_NAMES[Number(entry.level)] ?? String(entry.level)).padEnd(5);
  const name = entry.name ? ` [${String(entry.name)}]` : "";
  const extras = Object.entries(entry)
    .filter(([key]) => !PLAIN_KEYS.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${time} ${level}${name} ${String(entry.msg ?? "")}${extras ? ` ${extras}` : ""}\n`;
}

/** A structured logger; secrets are redacted by key name wherever they appear. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const out = options.destination ?? process.stderr;
  const destination: DestinationStream =
    options.format === "pretty"
      ? { write: (line: string) => void out.write(prettyLine(line)) }
      : { write: (line: string) => void out.write(line) };
  return pino(
    {
      level: options.level ?? "info",
      base: options.name ? { name: options.name } : {},
      redact: { paths: ["token", "*.token", "botToken", "*.botToken"], censor: "[redacted]" },
    },
    destination,
  );
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return createLogger({ level: "silent" });
}
