import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { SecarcError } from "../../common/errors.js";
import type { SshRecord } from "./ssh-log-parser.js";

/**
 * Follows sshd's messages in the systemd journal: `journalctl -f -o json
 * -n 0 -u ssh -u sshd` (argument vector, no shell), one JSON object per
 * line. The journal gives the PID (_PID) and the time (__REALTIME_TIMESTAMP)
 * as fields, so no prefix parsing is needed. journalctl exiting is a failure
 * for the supervisor to restart.
 */
export interface JournaldFollowerOptions {
  /** systemd units to follow. */
  units: readonly string[];
  onRecord(record: SshRecord): void;
  /** journalctl could not start or exited. */
  onError(err: SecarcError): void;
  /** The program to run. Default: "journalctl". */
  command?: string;
  /** Read the journal files in this directory (`journalctl --directory`) instead of the system journal. */
  directory?: string;
  /** "following" once journalctl runs, "unreadable" when it cannot start or exits; with a detail for operators. */
  onState?(state: "following" | "unreadable", detail: string): void;
}

/** "journald (ssh.service, sshd.service)": what is followed, for operators. */
export function journalSourceDetail(units: readonly string[]): string {
  return `journald (${units.map((unit) => (unit.includes(".") ? unit : `${unit}.service`)).join(", ")})`;
}

/**
 * Whether the journal holds any entry of these units (sshd has logged
 * there): `journalctl --quiet --lines=1 --output=cat -u ...`, bounded to 5 s.
 * False when journalctl is missing, fails or prints nothing.
 */
export function journalHasEntries(units: readonly string[], command = "journalctl", directory?: string): Promise<boolean> {
  const args = ["--quiet", "--no-pager", "--lines=1", "--output=cat", ...directoryArgs(directory), ...units.flatMap((unit) => ["--unit", unit])];
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 5_000, maxBuffer: 1024 * 1024 }, (err, stdout) => resolve(!err && stdout.trim().length > 0));
  });
}

export interface JournaldFollower {
  start(): Promise<void>;
  stop(): Promise<void>;
}

function directoryArgs(directory: string | undefined): string[] {
  return directory === undefined ? [] : [`--directory=${directory}`];
}

/** Arguments for journalctl: follow, JSON, only new entries, the given units (of the journal in `directory` when given). */
export function journalctlArgs(units: readonly string[], directory?: string): string[] {
  return ["--follow", "--output=json", "--lines=0", "--no-pager", ...directoryArgs(directory), ...units.flatMap((unit) => ["--unit", unit])];
}

/** One journal entry (journalctl -o json) as an sshd record, or undefined (not JSON, no message, not from sshd). */
export function recordFromJournalJson(line: string): SshRecord | undefined {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  // _COMM is a trusted field (set by journald from the sender's process):
  // a local user who logs with the tag "sshd" cannot fake it.
  if (typeof entry._COMM === "string" && !/^sshd(-session|-auth)?$/.test(entry._COMM)) return undefined;
  const raw = entry.MESSAGE;
  // journalctl writes non-UTF-8 messages as arrays of byte values.
  const message = typeof raw === "string" ? raw : Array.isArray(raw) ? Buffer.from(raw as number[]).toString("utf8") : undefined;
  if (message === undefined) return undefined;
  const record: SshRecord = { message };
  // One entry per message, except sshd's stderr (`sshd -e` under systemd):
  // journald splits that stream at newlines, which a user name can hold.
  if (entry._TRANSPORT === "stdout") record.unverified = true;
  const pid = Number(entry._PID);
  if (Number.isInteger(pid) && pid > 0) record.pid = pid;
  const micros = Number(entry.__REALTIME_TIMESTAMP);
  if (Number.isFinite(micros) && micros > 0) record.time = Math.floor(micros / 1000);
  return record;
}

export function createJournaldFollower(options: JournaldFollowerOptions): JournaldFollower {
  let child: ChildProcess | undefined;
  let stopping = false;
  return {
    async start() {
      stopping = false;
      const command = options.command ?? "journalctl";
      const proc = spawn(command, journalctlArgs(options.units, options.directory), { stdio: ["ignore", "pipe", "pipe"] });
      child = proc;
      let stderr = "";
      proc.stderr?.on("data", (chunk: Buffer) => {
        if (stderr.length < 2000) stderr += chunk.toString("utf8");
      });
      createInterface({ input: proc.stdout!, crlfDelay: Infinity }).on("line", (line) => {
        const record = recordFromJournalJson(line);
        if (record) options.onRecord(record);
      });
      proc.once("spawn", () => options.onState?.("following", journalSourceDetail(options.units)));
      proc.on("error", (err) => {
        options.onState?.("unreadable", `cannot run ${command}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        if (!stopping) options.onError(new SecarcError("unavailable", `cannot run ${command}: ${err.message}`, { retryable: true, cause: err }));
      });
      proc.on("exit", (code, signal) => {
        if (!stopping) {
          options.onState?.("unreadable", `${command} exited (${signal ?? code}): ${stderr.trim().slice(0, 200)}`);
          options.onError(new SecarcError("unavailable", `${command} exited (${signal ?? code}): ${stderr.trim().slice(0, 300)}`, { retryable: true }));
        }
      });
    },
    async stop() {
      stopping = true;
      if (child && child.exitCode === null && child.signalCode === null) {
        const proc = child;
        const exited = new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            proc.kill("SIGKILL");
            resolve();
          }, 3000);
          proc.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
        });
        proc.kill("SIGTERM");
        await exited;
      }
      child = undefined;
    },
  };
}
