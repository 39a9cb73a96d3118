import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { SecarcError } from "../../common/errors.js";
import { createLogFollower, type LogFollower } from "./log-follower.js";

/**
 * Follows every file that matches a set of paths and globs
 * (`/var/log/nginx/*access.log`): each match gets its own LogFollower; the
 * globs are expanded again every `rescanMs`, so files created while running
 * (a new virtual host) are picked up and read from their start. Wildcards
 * (`*`, `?`, `[abc]`) are allowed in the last path component only. A path
 * without wildcards is followed whether it exists or not (waiting for it).
 */

export interface FileSink {
  onData(chunk: Buffer): void;
  onReset(reason: "rotated" | "truncated"): void;
}

export interface LogSetFollowerOptions {
  patterns: readonly string[];
  /** A sink for a newly followed file (its lines get their own splitter and processor). */
  openFile(path: string): FileSink;
  onError(err: SecarcError): void;
  /** The set's state, told on every change (see `describeSet`). */
  onState(state: "following" | "waiting" | "unreadable", detail: string): void;
  pollMs: number;
  /** How often globs are expanded again. Default: 10 × pollMs, at least 1 s. */
  rescanMs?: number;
}

export interface LogSetFollower {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Expands the globs now and follows new matches. */
  rescan(): Promise<void>;
  /** The files followed now. */
  files(): string[];
}

/** Whether a path has glob characters. */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** The RegExp of a file-name glob: `*` any run of characters but "/", `?` one, `[...]` a class. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) out += "\\[";
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        out += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** Refuses wildcards outside the last path component (checked at config validation). */
export function globProblem(pattern: string): string | undefined {
  if (!pattern.startsWith("/")) return `"${pattern}" is not an absolute path`;
  if (isGlob(dirname(pattern))) return `"${pattern}": wildcards are allowed in the file name only`;
  return undefined;
}

type FileState = { state: "following" | "waiting" | "unreadable"; detail: string };

/** The set's state: following while any file is; else unreadable if any is; else waiting (with what is missing). */
export function describeSet(patterns: readonly string[], states: ReadonlyMap<string, FileState>): FileState {
  const following = [...states].filter(([, s]) => s.state === "following").map(([path]) => path);
  if (following.length > 0) {
    const shown = following.slice(0, 3).join(", ");
    return { state: "following", detail: following.length > 3 ? `${shown} and ${following.length - 3} more` : shown };
  }
  const unreadable = [...states.values()].find((s) => s.state === "unreadable");
  if (unreadable) return unreadable;
  const missing = patterns.map((p) => (isGlob(p) ? `no file matches ${p}` : `${p} does not exist`));
  return { state: "waiting", detail: missing.join("; ") };
}

export function createLogSetFollower(options: LogSetFollowerOptions): LogSetFollower {
  const followers = new Map<string, LogFollower>();
  const states = new Map<string, FileState>();
  let told = "";
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let scanning: Promise<void> | undefined;

  function report(): void {
    const now = describeSet(options.patterns, states);
    const key = `${now.state} ${now.detail}`;
    if (key === told) return;
    told = key;
    options.onState(now.state, now.detail);
  }

  async function follow(path: string, fromStart: boolean): Promise<void> {
    const sink = options.openFile(path);
    const follower = createLogFollower({
      path,
      pollMs: options.pollMs,
      fromStart,
      onData: (chunk) => sink.onData(chunk),
      onReset: (reason) => sink.onReset(reason),
      onError: options.onError,
      onState: (state, detail) => {
        states.set(path, { state, detail });
        report();
      },
    });
    followers.set(path, follower);
    await follower.start();
  }

  async function scan(initial: boolean): Promise<void> {
    for (const path of await matchingFiles(options.patterns)) {
      if (!running) return;
      if (!followers.has(path)) await follow(path, !initial);
    }
    report();
  }

  function rescan(): Promise<void> {
    if (!running) return Promise.resolve();
    scanning ??= scan(false).finally(() => {
      scanning = undefined;
    });
    return scanning;
  }

  return {
    files: () => [...followers.keys()],
    rescan,
    async start() {
      running = true;
      await scan(true);
      timer = setInterval(() => void rescan().catch(() => {}), options.rescanMs ?? Math.max(1_000, options.pollMs * 10));
      timer.unref();
    },
    async stop() {
      running = false;
      if (timer) clearInterval(timer);
      await scanning?.catch(() => {});
      await Promise.all([...followers.values()].map((f) => f.stop()));
      followers.clear();
      states.clear();
    },
  };
}

/** The files the patterns name now: plain paths as they are, globs expanded in their directory (sorted), each once. */
async function matchingFiles(patterns: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const pattern of patterns) {
    if (!isGlob(pattern)) {
      out.push(pattern);
      continue;
    }
    const dir = dirname(pattern);
    const re = globToRegExp(basename(pattern));
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      names = []; // a missing directory matches nothing (yet)
    }
    for (const name of names.sort()) if (re.test(name)) out.push(join(dir, name));
  }
  return [...new Set(out)];
}
