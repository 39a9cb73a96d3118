import { parseArgs, type ParseArgsConfig } from "node:util";
import { SecarcError } from "../common/errors.js";

/** One `secarc` subcommand. */
export interface Command {
  /** The word after `secarc`. */
  name: string;
  /** One line for `secarc --help`. */
  summary: string;
  /** The full text of `secarc <name> --help`. */
  usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** Thrown for bad command lines; the CLI prints the message and exits 2. */
export function usageError(message: string): SecarcError {
  return new SecarcError("usage", message);
}

/**
 * parseArgs in strict mode, with Node's errors for unknown options and
 * missing values turned into usage errors.
 */
export function parseCommandLine<T extends ParseArgsConfig["options"]>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw usageError(`secarc ${command}: ${message.replace(/\. To specify a positional argument.*$/s, "")}`);
  }
}
