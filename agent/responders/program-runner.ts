import { execFile } from "node:child_process";

/**
 * Every program a responder runs goes through a ProgramRunner: a file and an
 * argument vector (never a shell string), optional stdin text, a timeout.
 * A ProgramRunner never rejects: a program that cannot start, fails or times
 * out is a CommandResult with a non-zero code and the reason in stderr.
 */

export interface Command {
  /** The program, e.g. "nft" or "/usr/bin/systemctl". */
  file: string;
  /** Its arguments, one element each. */
  args: readonly string[];
  /** Text written to its stdin (e.g. an nft script for `nft -f -`). */
  input?: string;
  /** Kill it after this long. Default: the runner's. */
  timeoutMs?: number;
}

export interface CommandResult {
  /** Exit code; -1 when it could not start, was killed or timed out. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ProgramRunner {
  run(command: Command): Promise<CommandResult>;
}

export interface ProgramRunnerOptions {
  /** Default timeout per command. Default: 30 s. */
  timeoutMs?: number;
  /** Most bytes of stdout or stderr kept. Default: 64 MiB (nft -j of a large set). */
  maxBuffer?: number;
}

/** Runs commands with execFile. */
export function createProgramRunner(options: ProgramRunnerOptions = {}): ProgramRunner {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBuffer = options.maxBuffer ?? 64 * 1024 * 1024;
  return {
    run(command) {
      return new Promise((resolve) => {
        let child: ReturnType<typeof execFile>;
        try {
          child = execFile(
            command.file,
            [...command.args],
            { timeout: command.timeoutMs ?? timeoutMs, maxBuffer, killSignal: "SIGKILL" },
            (err, stdout, stderr) => {
              if (err === null) {
                resolve({ code: 0, stdout: String(stdout), stderr: String(stderr) });
                return;
              }
              const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string | null };
              const code = typeof e.code === "number" ? e.code : -1;
              const why = e.killed ? `killed after timeout (${command.timeoutMs ?? timeoutMs} ms)` : code === -1 ? e.message : "";
              const text = String(stderr);
              resolve({ code, stdout: String(stdout), stderr: why && !text.includes(why) ? `${text}${text ? "\n" : ""}${why}` : text });
            },
          );
        } catch (err) {
          resolve({ code: -1, stdout: "", stderr: err instanceof Error ? err.message : String(err) });
          return;
        }
        child.stdin?.on("error", () => {
          // the program exited before reading its input; its exit code tells why
        });
        child.stdin?.end(command.input ?? "");
      });
    },
  };
}

/** A runner that records commands and answers from a function, for tests of what would run. */
export function createRecordingRunner(
  answer: (command: Command) => CommandResult = () => ({ code: 0, stdout: "", stderr: "" }),
): ProgramRunner & { commands: Command[] } {
  const commands: Command[] = [];
  return {
    commands,
    async run(command) {
      commands.push(command);
      return answer(command);
    },
  };
}

/** An argument vector as one line for humans (results, logs, dry runs); quoting only for display. */
export function formatCommand(command: Command): string {
  const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  const line = [command.file, ...command.args].map(quote).join(" ");
  if (command.input === undefined) return line;
  const lines = command.input.trimEnd().split("\n");
  const shown = lines.length > 6 ? [...lines.slice(0, 5), `… (${lines.length - 5} more lines)`] : lines;
  return `${line} <<< ${shown.join("; ")}`;
}

/** A one-line reason from a failed command: its stderr's first line, or its exit code. */
export function commandError(command: Command, result: CommandResult): string {
  const first = result.stderr.trim().split("\n")[0] ?? "";
  return `${command.file} ${command.args.slice(0, 3).join(" ")} failed (exit ${result.code})${first ? `: ${first}` : ""}`;
}
