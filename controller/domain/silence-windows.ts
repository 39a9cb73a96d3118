import { createTask, validate, type ScheduledTask } from "node-cron";
import { z } from "zod";
import { durationMs } from "../../common/config.js";
import { silenceKindNames, type Silence, type SilenceKindName, type SilenceMatcher } from "./silences.js";

/**
 * Scheduled maintenance windows: a cron expression (node-cron, five fields,
 * minute precision) says when a window starts and `duration` how long it
 * lasts. While it lasts it is a silence like one made with /silence.
 */

const MINUTE_MS = 60_000;
/** The longest window: a scan looks back this far for the start of the window in force. */
export const MAX_WINDOW_MS = 7 * 86_400_000;

const kindEnum = z.enum(Object.keys(silenceKindNames) as [SilenceKindName, ...SilenceKindName[]]);

/** Which alerts a window silences; all conditions hold. Default: every alert. */
export const silenceMatchSchema = z.strictObject({
  /** One server (agent id). Default: any. */
  agent: z.string().min(1).max(128).optional(),
  /** Labels the server must carry, e.g. `{ team: db }`. Default: none. */
  labels: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/), z.string().max(63)).default({}),
  /** Alert kinds (ssh_session, ssh_brute_force, cpu_sustained, http_404_burst, agent_offline, detector_blind). Default: any. */
  kinds: z.array(kindEnum).default([]),
});

/** One scheduled window. */
export const silenceWindowSchema = z.strictObject({
  /** A name for /silences and the log, unique among the windows. Required. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, "letters, digits, _ . - (at most 40)"),
  /** When it starts: a five-field cron expression, e.g. "0 3 * * SUN" (Sundays 03:00). Required. */
  cron: z
    .string()
    .refine((expr) => expr.trim().split(/\s+/).length === 5, "five fields (minute hour day-of-month month day-of-week)")
    .refine((expr) => validate(expr), "not a valid cron expression"),
  /** How long it lasts, e.g. "2h". Required; 1 minute to 7 days. */
  duration: durationMs().refine((ms) => ms >= MINUTE_MS && ms <= MAX_WINDOW_MS, "from 1m to 7d"),
  /** The time zone the expression is read in (IANA name, e.g. "Europe/Madrid"). Default: "UTC". */
  timezone: z
    .string()
    .default("UTC")
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat("en", { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, "not a known time zone"),
  /** Which alerts it silences. Default: every alert. */
  match: silenceMatchSchema.default({ labels: {}, kinds: [] }),
});

/** The `silences` section of the controller config. */
export const silencesConfigSchema = z
  .strictObject({
    /** Scheduled maintenance windows. Default: none. */
    windows: z.array(silenceWindowSchema).default([]),
    /** How often the controller looks for silences and windows that started or ended. Default: "15s". */
    checkEvery: durationMs().refine((ms) => ms >= 1_000, "at least 1s").default(15_000),
  })
  .superRefine((section, ctx) => {
    const seen = new Set<string>();
    section.windows.forEach((window, index) => {
      if (seen.has(window.name)) ctx.addIssue({ code: "custom", path: ["windows", index, "name"], message: `another window is named "${window.name}"` });
      seen.add(window.name);
    });
  });

export type SilencesConfig = z.output<typeof silencesConfigSchema>;
export type SilenceWindowConfig = z.output<typeof silenceWindowSchema>;

export function windowMatcher(config: SilenceWindowConfig): SilenceMatcher {
  return { agentId: config.match.agent, labels: config.match.labels, kinds: config.match.kinds.map((name) => silenceKindNames[name]) };
}

export interface WindowSchedule {
  name: string;
  /** The run of the window in force at `now` (as a silence, id "window:NAME:START"), or undefined. */
  runAt(now: number): Silence | undefined;
  /** Releases the node-cron task used for matching. */
  stop(): void;
}

/**
 * A window's schedule. The cron expression is matched by node-cron (its task
 * is never started: the controller's clock drives the checks); the run in
 * force is the latest minute that matches within `duration` before now.
 * Minutes already looked at are not looked at again.
 */
export function createWindowSchedule(config: SilenceWindowConfig): WindowSchedule {
  const task: ScheduledTask = createTask(config.cron, () => {}, { timezone: config.timezone, name: `secarc-window-${config.name}` });
  const matcher = windowMatcher(config);
  /** The newest minute scanned, and the latest start found up to it. */
  let scannedTo = -Infinity;
  let latestStart: number | undefined;
  return {
    name: config.name,
    runAt(now) {
      const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
      const from = Math.max(scannedTo + MINUTE_MS, minute - config.duration + MINUTE_MS);
      if (minute < scannedTo) {
        // The clock went back: look again over the whole window.
        scannedTo = -Infinity;
        latestStart = undefined;
        return this.runAt(now);
      }
      for (let at = from; at <= minute; at += MINUTE_MS) if (task.match(new Date(at))) latestStart = at;
      scannedTo = Math.max(scannedTo, minute);
      if (latestStart === undefined || now >= latestStart + config.duration) return undefined;
      return {
        silenceId: `window:${config.name}:${latestStart}`,
        matcher,
        startsAt: latestStart,
        endsAt: latestStart + config.duration,
        createdBy: `window:${config.name}`,
        origin: "window",
      };
    },
    stop() {
      void task.destroy();
    },
  };
}
