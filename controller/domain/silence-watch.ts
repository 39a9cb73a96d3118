import { randomUUID } from "node:crypto";
import { describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { SilenceStore } from "../store/silence-store.js";
import type { WindowSchedule } from "./silence-windows.js";
import { endedUndigested, heldUntil, silenceActive, silenceEnd, silencing, type Silence, type SilenceMatcher, type SilenceSubject } from "./silences.js";

export type { SilenceStore } from "../store/silence-store.js";

export interface SilenceWatchDeps {
  store: SilenceStore;
  windows: readonly WindowSchedule[];
  logger: Logger;
  now: () => number;
  /** How often silences and windows are looked at; 0: only when `check()` is called (tests). */
  checkEveryMs: number;
}

/** Called once per silence that ended, with the silence; a throw leaves it to the next check. */
export type SilenceEndedListener = (silence: Silence) => void | Promise<void>;

export interface SilenceWatch {
  /** Loads the stored silences (before anything asks whether an alert is held). */
  load(): Promise<void>;
  /** Looks once, then every checkEveryMs. */
  start(): Promise<void>;
  /** Puts window runs that started in force and digests silences that ended. */
  check(): Promise<void>;
  /** The silence in force now that covers the subject, if any. */
  silencing(subject: SilenceSubject): Silence | undefined;
  /** Until when an alert received at `receivedAt` was held by silences (the no-answer policy starts its clock there). */
  heldUntil(subject: SilenceSubject, receivedAt: number): number | undefined;
  /** The silences in force now, soonest end first. */
  active(): Silence[];
  /** Stores a new silence from now for `durationMs`. */
  add(input: { matcher: SilenceMatcher; durationMs: number; createdBy: string }): Promise<Silence>;
  /** Ends a silence now; undefined when none such is in force. Its digest follows at once. */
  end(silenceId: string): Promise<Silence | undefined>;
  onEnded(listener: SilenceEndedListener): () => void;
  stop(): void;
}

/** Digested silences are kept in memory this long after their end (heldUntil looks at them). */
const KEEP_ENDED_MS = 2 * 86_400_000;

/**
 * The silences in force, kept in memory (so that deciding whether an alert is
 * posted never waits for the store) and in the store (so that a restart loses
 * none). Scheduled windows become silences when they start; a silence that
 * ends, by itself or by Unsilence, is handed once to the listeners, which post
 * the digest of its still-open alerts.
 */
export function createSilenceWatch(deps: SilenceWatchDeps): SilenceWatch {
  const { store, logger, now } = deps;
  let silences: Silence[] = [];
  const listeners = new Set<SilenceEndedListener>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function checkOnce(): Promise<void> {
    const at = now();
    silences.push(...(await startedWindowRuns(deps, silences, at)));
    for (const silence of endedUndigested(silences, at)) {
      try {
        for (const listener of listeners) await listener(silence);
      } catch (err) {
        logger.error({ err: describeError(err), silenceId: silence.silenceId }, "the digest of an ended silence could not be queued; tried again at the next check");
        continue;
      }
      await store.markSilenceDigested(silence.silenceId, new Date(at));
      silence.digestedAt = at;
      logger.info({ silenceId: silence.silenceId, by: silence.createdBy }, "silence ended");
    }
    silences = silences.filter((s) => s.digestedAt === undefined || silenceEnd(s) > at - KEEP_ENDED_MS);
  }

  /** One check at a time: a second caller waits for the one running, then runs its own. */
  function check(): Promise<void> {
    const next = (running ?? Promise.resolve()).then(checkOnce, checkOnce);
    running = next.catch(() => {});
    return next;
  }

  return {
    async load() {
      silences = await store.listSilences(new Date(now() - KEEP_ENDED_MS));
    },
    async start() {
      await check();
      if (deps.checkEveryMs > 0) {
        timer = setInterval(() => {
          check().catch((err: unknown) => logger.error({ err: describeError(err) }, "silences: check failed"));
        }, deps.checkEveryMs);
        timer.unref();
      }
    },
    check,
    silencing: (subject) => silencing(silences, subject, now()),
    heldUntil: (subject, receivedAt) => heldUntil(silences, subject, receivedAt),
    active() {
      const at = now();
      return silences.filter((s) => silenceActive(s, at)).sort((a, b) => silenceEnd(a) - silenceEnd(b));
    },
    async add(input) {
      const at = now();
      const silence: Silence = { silenceId: randomUUID(), matcher: input.matcher, startsAt: at, endsAt: at + input.durationMs, createdBy: input.createdBy, origin: "command" };
      await store.saveSilence(silence);
      silences.push(silence);
      return silence;
    },
    async end(silenceId) {
      const at = now();
      const silence = silences.find((s) => s.silenceId === silenceId);
      if (!silence || !silenceActive(silence, at)) return undefined;
      if (!(await store.endSilence(silenceId, new Date(at)))) return undefined;
      silence.endedAt = at;
      await check();
      return silence;
    },
    onEnded(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      for (const window of deps.windows) window.stop();
    },
  };
}

/** The runs of windows that started and are not yet among `known`, stored first. */
async function startedWindowRuns(deps: SilenceWatchDeps, known: readonly Silence[], at: number): Promise<Silence[]> {
  const started: Silence[] = [];
  for (const window of deps.windows) {
    const run = window.runAt(at);
    if (!run || known.some((s) => s.silenceId === run.silenceId)) continue;
    await deps.store.saveSilence(run);
    started.push(run);
    deps.logger.info({ window: window.name, until: new Date(run.endsAt).toISOString() }, "maintenance window started: its alerts are stored, not posted");
  }
  return started;
}
