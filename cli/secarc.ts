import { isSecarcError, describeError } from "../common/errors.js";
import { SECARC_VERSION } from "../common/version.js";
import { versionText } from "./build-info.js";
import { COMMANDS, findCommand } from "./commands.js";

export { COMMANDS } from "./commands.js";

export const VERSION = SECARC_VERSION;

export function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: secarc <command> [options]",
    "",
    "SecARC: security alerts from Linux servers to Telegram, answered with one tap.",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Options:",
    "  -h, --help     show this help (or `secarc <command> --help`)",
    "  -V, --version  print the version, git commit, Node version and protocol package",
    "",
  ].join("\n");
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Runs `secarc` with the given arguments (without node and script); resolves to the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    io.out(mainUsage());
    return first === undefined ? 2 : 0;
  }
  if (first === "-V" || first === "--version") {
    io.out(versionText());
    return 0;
  }
  const entry = findCommand(first);
  if (!entry) {
    const what = first.startsWith("-") ? `unknown option "${first}"` : `unknown command "${first}"`;
    io.err(`secarc: ${what}\nRun "secarc --help" for the list of commands.\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes("-h") || rest.includes("--help")) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (isSecarcError(err, "usage")) {
      io.err(`${err.message}\nRun "secarc ${command.name} --help" for usage.\n`);
      return 2;
    }
    io.err(`secarc ${command.name}: ${describeError(err)}\n`);
    return 1;
  }
}
