import { z } from "zod";
import { durationMs } from "../../common/config.js";
import { trustedProxiesProblem } from "./client-address.js";
import { globProblem } from "./log-set-follower.js";
import { compileWebFormat } from "./web-log-format.js";

/**
 * The `detectors` section of the agent config. Every key has a default, so
 * an empty section enables all four detectors with the original tool's
 * settings. Unknown keys are errors.
 */

/** A count threshold: a whole number of events, at least 1. */
const count = () => z.number().int().min(1);

/** Warning must be strictly below critical; the message names both keys. */
function thresholdsInOrder(value: { warning: number; critical: number }, ctx: z.RefinementCtx): void {
  if (value.warning >= value.critical) {
    ctx.addIssue({
      code: "custom",
      path: ["warning"],
      message: `warning (${value.warning}) must be below critical (${value.critical})`,
    });
  }
}

/** Where SSH log lines come from. */
const sshSourceSchema = z.strictObject({
  /**
   * "file" follows `authLog`; "journald" runs `journalctl -f -o json` for the
   * ssh/sshd units; "auto" uses the file when it exists, else journald when
   * journalctl is installed. Default: "auto".
   */
  source: z.enum(["auto", "file", "journald"]).default("auto"),
  /** The auth log sshd writes to (through syslog, or `sshd -E FILE`). Default: /var/log/auth.log. */
  authLog: z.string().min(1).default("/var/log/auth.log"),
  /** systemd units whose journal to follow. Default: ["ssh", "sshd"]. */
  journalUnits: z.array(z.string().min(1)).min(1).default(["ssh", "sshd"]),
  /**
   * Read the journal files in this directory (`journalctl --directory`)
   * instead of the system journal, e.g. a journald namespace's or a
   * container's /run/log/journal. An absolute path. Default: unset (the
   * system journal).
   */
  journalDirectory: z.string().startsWith("/", "must be an absolute path").optional(),
  /**
   * `authLog` may hold raw newlines inside a message: it is written by
   * `sshd -E FILE` (bare lines, user names written raw), or by rsyslog with
   * `$EscapeControlCharactersOnReceive off`. Then lines without a syslog
   * prefix are read as sshd's, and a line counts only when /proc shows an
   * sshd serving the connection it names (a line forged inside a user name
   * names a connection no sshd serves). When false, lines without a syslog
   * prefix naming sshd are refused. Default: false.
   */
  rawNewlines: z.boolean().default(false),
});

export const sshSessionConfigSchema = z
  .strictObject({
    /** Raise an alert for each new SSH login. Default: true. */
    enabled: z.boolean().default(true),
    ...sshSourceSchema.shape,
    /** Most open sessions remembered (to resolve their alert when they close). Default: 10000. */
    maxSessions: z.number().int().min(1).default(10_000),
  })
  .prefault({});

export const sshBruteForceConfigSchema = z
  .strictObject({
    /** Count failed SSH logins per source address. Default: true. */
    enabled: z.boolean().default(true),
    ...sshSourceSchema.shape,
    /**
     * Which messages count, like fail2ban's sshd filter: "normal" counts
     * failed passwords, refused users, PAM failures, too many failures and
     * abandoned key-only logins ("Failed publickey" only when its connection
     * ends without a success); "aggressive" adds every "Failed publickey"
     * and pre-authentication noise (no identification string, bad banner,
     * no matching cipher/kex, timeouts). Default: "normal".
     */
    mode: z.enum(["normal", "aggressive"]).default("normal"),
    /** Sliding window the failures are counted over. Default: 60s. */
    window: durationMs().default(60_000),
    /** Failures in the window that raise a warning (inclusive). Default: 5. */
    warning: count().default(5),
    /** Failures in the window that make it critical (inclusive); above warning. Default: 20. */
    critical: count().default(20),
    /** Most source addresses tracked at once; the idlest is dropped beyond. Default: 100000. */
    maxSources: z.number().int().min(1).default(100_000),
  })
  .superRefine(thresholdsInOrder)
  .prefault({});

export const cpuSustainedConfigSchema = z
  .strictObject({
    /** Sample total CPU usage and alert when it stays high. Default: true. */
    enabled: z.boolean().default(true),
    /**
     * Time between samples. It becomes a node-cron schedule, so it must fit
     * one: a number of seconds dividing 60 (1s, 2s, 5s, 10s, 15s, 20s, 30s)
     * or of minutes dividing 60 (1m, 2m, 5m, ...). Default: 30s.
     */
    interval: durationMs().default(30_000),
    /** Consecutive samples at or above a threshold before an alert (spikes are ignored). Default: 2. */
    sustainSamples: z.number().int().min(1).default(2),
    /** Usage in percent that raises a warning (inclusive). Default: 50. */
    warning: z.number().min(0).max(100).default(50),
    /** Usage in percent that makes it critical (inclusive); above warning. Default: 90. */
    critical: z.number().min(0).max(100).default(90),
    /** Processes listed in the alert, busiest first. Default: 5. */
    topProcesses: z.number().int().min(0).max(50).default(5),
  })
  .superRefine(thresholdsInOrder)
  .superRefine((value, ctx) => {
    if (cronExpressionFor(value.interval) === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["interval"],
        message: `interval must be whole seconds dividing a minute (1s..30s) or whole minutes dividing an hour (1m..60m), got ${value.interval} ms`,
      });
    }
  })
  .prefault({});

/** Field paths of a `json` access log (dotted for nested objects: "request.remote_ip"). */
const jsonFieldsSchema = z
  .strictObject({
    /** The peer's address. Default: "remote_addr". */
    peer: z.string().min(1).default("remote_addr"),
    /** The response status (number or numeric string). Default: "status". */
    status: z.string().min(1).default("status"),
    /** The time: ISO 8601, nginx's $time_local, or seconds since the epoch. Default: "time". */
    time: z.string().min(1).default("time"),
    /** The request line "GET /path HTTP/1.1" (its path is kept). Default: "request". */
    request: z.string().min(1).default("request"),
    /** The path alone, used instead of `request` when set. Default: none. */
    path: z.string().min(1).optional(),
    /** X-Forwarded-For (only used behind `trustedProxies`). Default: "http_x_forwarded_for". */
    forwardedFor: z.string().min(1).default("http_x_forwarded_for"),
    /** The virtual host, named in alerts. Default: none. */
    vhost: z.string().min(1).optional(),
  })
  .prefault({});

export const nginx404ConfigSchema = z
  .strictObject({
    /** Count 404 responses per client address in web access logs (nginx, Apache, Caddy). Default: true. */
    enabled: z.boolean().default(true),
    /**
     * The access logs: absolute paths, with wildcards (`*`, `?`, `[...]`)
     * allowed in the file name (`/var/log/nginx/*access.log`). Globs are
     * expanded again while running, so new files (a new virtual host) are
     * picked up; each file is counted on its own and named in its alerts.
     * Default: ["/var/log/nginx/access.log"].
     */
    paths: z
      .array(z.string().min(1).superRefine((p, ctx) => {
        const problem = globProblem(p);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }))
      .min(1)
      .optional(),
    /** One access log; the older spelling of `paths: [FILE]` (not both). Default: none. */
    accessLog: z.string().min(1).optional(),
    /**
     * How lines are written: "combined" (nginx's and Apache's default),
     * "apache_vhost_combined", "caddy_json", "json" (field paths in
     * `jsonFields`), or an nginx `log_format` value as in nginx.conf, e.g.
     * `'$remote_addr - $remote_user [$time_local] "$request" $status ...'`
     * (extra variables, $time_iso8601, $request_time; a JSON template with
     * `escape=json` too). It must hold $remote_addr, $status and a time.
     * Compiled once at start. Default: "combined".
     */
    format: z.string().min(1).default("combined"),
    /** Field paths for `format: json`. */
    jsonFields: jsonFieldsSchema,
    /**
     * Proxies (addresses or CIDRs) in front of the web server. When the peer
     * is one of them, the client is the right-most address of
     * X-Forwarded-For that is not; from any other peer X-Forwarded-For is
     * ignored (it is attacker-chosen). The format must log
     * $http_x_forwarded_for for this. Default: none.
     */
    trustedProxies: z
      .array(z.string())
      .default([])
      .superRefine((cidrs, ctx) => {
        const problem = trustedProxiesProblem(cidrs);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
    /** Sliding window the 404s are counted over. Default: 60s. */
    window: durationMs().default(60_000),
    /** 404s in the window that raise a warning (inclusive). Default: 20. */
    warning: count().default(20),
    /** 404s in the window that make it critical (inclusive); above warning. Default: 50. */
    critical: count().default(50),
    /** Requested paths kept in the alert, most recent last. Default: 5. */
    recentPaths: z.number().int().min(0).max(50).default(5),
    /** Most client addresses tracked at once (per file); the idlest is dropped beyond. Default: 100000. */
    maxClients: z.number().int().min(1).default(100_000),
  })
  .superRefine(thresholdsInOrder)
  .superRefine((value, ctx) => {
    if (value.paths !== undefined && value.accessLog !== undefined) ctx.addIssue({ code: "custom", path: ["accessLog"], message: "give paths or accessLog, not both" });
    try {
      compileWebFormat(value.format, value.jsonFields);
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["format"], message: (err as Error).message });
    }
  })
  .transform(({ accessLog, paths, ...rest }) => ({ ...rest, paths: paths ?? [accessLog ?? "/var/log/nginx/access.log"] }))
  .prefault({});

/** The `detectors` section of the agent config. */
export const detectorsConfigSchema = z
  .strictObject({
    /** New SSH logins (INFO alerts, resolved when the session closes). */
    sshSession: sshSessionConfigSchema,
    /** Failed SSH logins per source address in a sliding window. */
    sshBruteForce: sshBruteForceConfigSchema,
    /** Sustained total CPU usage. */
    cpuSustained: cpuSustainedConfigSchema,
    /** Bursts of HTTP 404 responses per client in nginx's access log. */
    nginx404: nginx404ConfigSchema,
    /** Lines longer than this many bytes are cut (the rest is discarded and counted). Default: 16384. */
    maxLineBytes: z.number().int().min(256).max(1_048_576).default(16_384),
    /** How often followed logs are polled when no file-change event arrives. Default: 1s. */
    pollInterval: durationMs().default(1000),
  })
  .prefault({});

export type DetectorsConfig = z.output<typeof detectorsConfigSchema>;
export type SshSessionConfig = z.output<typeof sshSessionConfigSchema>;
export type SshBruteForceConfig = z.output<typeof sshBruteForceConfigSchema>;
export type CpuSustainedConfig = z.output<typeof cpuSustainedConfigSchema>;
export type Nginx404Config = z.output<typeof nginx404ConfigSchema>;

/**
 * The node-cron expression (with its seconds field) that fires every
 * `intervalMs`, or undefined when no cron step expresses it.
 */
export function cronExpressionFor(intervalMs: number): string | undefined {
  if (intervalMs <= 0 || intervalMs % 1000 !== 0) return undefined;
  const seconds = intervalMs / 1000;
  if (seconds < 60) return 60 % seconds === 0 ? `*/${seconds} * * * * *` : undefined;
  if (seconds % 60 !== 0) return undefined;
  const minutes = seconds / 60;
  if (minutes < 60) return 60 % minutes === 0 ? `0 */${minutes} * * * *` : undefined;
  return minutes === 60 ? "0 0 * * * *" : undefined;
}
