import { z } from "zod";
import { durationMs } from "../common/config.js";
import { checkPolicyAgainstExpiry, noAnswerPolicySchema } from "./domain/no-answer-policy-config.js";
import { telegramConfigSchema } from "./telegram/config.js";
import { silencesConfigSchema } from "./domain/silence-windows.js";

/** Where the controller accepts agents. */
export const controllerListenSchema = z.strictObject({
  /** Address to listen on. Default: "0.0.0.0" (all IPv4 addresses; "::" for IPv6 as well). */
  host: z.string().min(1).default("0.0.0.0"),
  /** TCP port; 0 picks a free one. Default: 8443. */
  port: z.number().int().min(0).max(65535).default(8443),
});

/** PEM files made by `secarc certs`. */
export const controllerTlsSchema = z.strictObject({
  /** The SecARC CA certificate agents' certificates must chain to. Required. */
  ca: z.string().min(1),
  /** The controller's server certificate. Required. */
  cert: z.string().min(1),
  /** The controller's private key (readable by the owner only). Required. */
  key: z.string().min(1),
  /**
   * A PEM CRL file (`secarc certs revoke`; several CRLs, one per CA, during a
   * CA change): revoked agent certificates are refused at the handshake and
   * at Hello. Re-read when it changes, without a restart: live streams of
   * newly revoked certificates are ended. Default: none.
   */
  crl: z.string().min(1).optional(),
  /**
   * A file holding the secret TLS session tickets are sealed with (created,
   * mode 0600, when missing): agents reconnecting after a controller restart
   * resume their TLS session instead of a full handshake. Keys derived from
   * it change every 12 h. Without it, tickets are good only until the
   * controller restarts. Default: none.
   */
  ticketKeyFile: z.string().min(1).optional(),
});

/** Where the SQLite store lives when `store.path` is not set. */
export const DEFAULT_STORE_PATH = "/var/lib/secarc/controller/controller.db";

/** A PostgreSQL database shared by controller replicas. */
export const controllerPostgresSchema = z.strictObject({
  /**
   * libpq URL of the database: postgres://USER:PASSWORD@HOST:PORT/DATABASE
   * (options such as `?sslmode=require` are honoured; a password may come
   * from PGPASSWORD instead). The database must exist; the controller
   * creates and migrates its tables. Required.
   */
  url: z.string().refine(isPostgresUrl, "must be a postgres:// or postgresql:// URL naming a host and a database, e.g. postgres://secarc@db.example:5432/secarc"),
  /** Connections each controller keeps open (the link, Telegram and LISTEN share them). Between 1 and 200. Default: 10. */
  poolSize: z.number().int().min(1).max(200).default(10),
});

/**
 * The controller's store: one SQLite file (`path`, the default, embedded)
 * or a PostgreSQL database (`postgres`), not both.
 */
export const controllerStoreSchema = z
  .strictObject({
    /**
     * Path of the SQLite file (created if missing). Default:
     * "/var/lib/secarc/controller/controller.db" when `postgres` is not set.
     * With `postgres` the directory of this default still holds the admin
     * socket unless `admin.socket` says otherwise.
     */
    path: z.string().min(1).optional(),
    /** Keep the store in PostgreSQL instead (several controllers can share it). Default: none (SQLite). */
    postgres: controllerPostgresSchema.optional(),
  })
  .refine((store) => !(store.path !== undefined && store.postgres !== undefined), "set either store.path (SQLite) or store.postgres, not both")
  .transform((store) => ({ path: store.path ?? DEFAULT_STORE_PATH, ...(store.postgres ? { postgres: store.postgres } : {}) }));

function isPostgresUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "" && url.pathname.length > 1;
  } catch {
    return false;
  }
}

/** The agent link's timing and limits. */
export const controllerLinkSchema = z.strictObject({
  /** How often agents are asked to send a Heartbeat. Default: "10s". */
  heartbeatInterval: durationMs().default(10_000),
  /** How long a connection may stay quiet before the controller pings it (HTTP/2 PING). Default: "10s". */
  pingInterval: durationMs().default(10_000),
  /** How long an unanswered ping is awaited before the connection is closed as dead. Default: "10s". */
  pingTimeout: durationMs().default(10_000),
  /** Largest message accepted from an agent, in bytes; larger ones end the stream with RESOURCE_EXHAUSTED. Default: 1048576 (1 MiB). */
  maxMessageBytes: z.number().int().min(1_024).max(64 * 1_048_576).default(1_048_576),
  /**
   * How long an agent that has connected before may stay offline before the
   * controller raises an "offline" alert (resolved in the same message when
   * it is back); counted from the controller's start at the earliest.
   * Between 1s and 30d. Default: "2m".
   */
  offlineAlertAfter: durationMs()
    .refine((ms) => ms >= 1_000 && ms <= 30 * 86_400_000, "must be between 1s and 30d")
    .default(120_000),
  /**
   * How long an agent's stream may last: then the controller ends it
   * (UNAVAILABLE, trailer `secarc-reconnect: rebalance`) and the agent
   * reconnects at once, to an endpoint drawn from its list, so agents
   * spread again over replicas that came back. Nothing is lost or doubled
   * (unacked alerts are resent, actions run once through the agent's
   * journal). 0 turns it off; else between 1s and 30d. Default: "45m".
   */
  maxStreamAge: durationMs()
    .refine((ms) => ms === 0 || (ms >= 1_000 && ms <= 30 * 86_400_000), "must be 0 (off) or between 1s and 30d")
    .default(2_700_000),
  /**
   * Each stream's maximum age is `maxStreamAge` plus or minus up to this
   * much (uniformly), so that agents that connected together do not all
   * reconnect together. At most half of `maxStreamAge`. Default: a tenth
   * of `maxStreamAge` ("4m30s" at "45m").
   */
  maxStreamAgeJitter: durationMs().optional(),
  /**
   * The most connections that may be opening at once (accepted, TLS
   * handshake and Hello not yet answered with a Welcome). The next ones are
   * refused before any TLS work and their agents dial again after their
   * jittered backoff, so that a reconnect herd (a replica or the controller
   * died) is served a part at a time, each within the agents' connect
   * timeout, instead of all at once and too late for every one. The limit
   * in force follows how fast Welcomes go out (link/admission.ts), up to
   * this. Raise it on a controller with more cores. Default: 500.
   */
  maxOpeningConnections: z.number().int().min(1).max(100_000).default(500),
})
  .refine((link) => link.maxStreamAgeJitter === undefined || link.maxStreamAge === 0 || link.maxStreamAgeJitter * 2 <= link.maxStreamAge, {
    message: "must be at most half of link.maxStreamAge",
    path: ["maxStreamAgeJitter"],
  })
  .transform(({ maxStreamAgeJitter, ...link }) => ({ ...link, maxStreamAgeJitter: maxStreamAgeJitter ?? Math.round(link.maxStreamAge / 10) }));

/** What the controller watches in agents' detectors. */
export const controllerDetectorsSchema = z.strictObject({
  /**
   * How long a detector of an online agent may report no source (waiting for
   * its log, no source, unreadable) before the controller raises a "detector
   * blind" warning, resolved in the same message when the source appears.
   * Between 1s and 30d. Default: "10m".
   */
  blindAlertAfter: durationMs()
    .refine((ms) => ms >= 1_000 && ms <= 30 * 86_400_000, "must be between 1s and 30d")
    .default(600_000),
});

/**
 * Timings of controller replicas sharing `store.postgres` (controller/replicas/).
 * Only with `store.postgres`: on SQLite there is one controller and nothing
 * to coordinate, so the section is refused there (a `replicas` section with
 * a SQLite store most likely lost its `store.postgres`, and would run a lone
 * controller with a store of its own).
 */
export const controllerReplicasSchema = z
  .strictObject({
    /**
     * How often each replica heartbeats its row in `replicas`, looks for dead
     * replicas and compares its agents' claims with the table. Between 100ms
     * and 1m. Default: "2s".
     */
    heartbeatEvery: durationMs()
      .refine((ms) => ms >= 100 && ms <= 60_000, "must be between 100ms and 1m")
      .default(2_000),
    /**
     * A replica that has not heartbeaten for this long is dead: a survivor
     * releases its agents' sessions and records them offline as of then. At
     * least three `heartbeatEvery` and between 1s and 1h. Default: "15s".
     */
    deadAfter: durationMs()
      .refine((ms) => ms >= 1_000 && ms <= 3_600_000, "must be between 1s and 1h")
      .default(15_000),
    /**
     * How long the Telegram lease holds without a renewal; its holder renews
     * it every third of this. When the holder dies, another replica speaks
     * at most this long after its last renewal. Between 3s and 10m. Default: "15s".
     */
    telegramLeaseTtl: durationMs()
      .refine((ms) => ms >= 3_000 && ms <= 600_000, "must be between 3s and 10m: it is renewed every third of it, and a renewal waits for a database connection shared with the agents' writes")
      .default(15_000),
    /**
     * How often each replica looks for pending actions of the agents it holds
     * (besides the NOTIFY of each new one, which a dead listener can miss).
     * Between 100ms and 5m. Default: "3s".
     */
    actionSweepEvery: durationMs()
      .refine((ms) => ms >= 100 && ms <= 300_000, "must be between 100ms and 5m")
      .default(3_000),
  })
  .refine((r) => r.deadAfter >= 3 * r.heartbeatEvery, {
    message: "must be at least three replicas.heartbeatEvery: a replica late by one beat would be taken over",
    path: ["deadAfter"],
  });

/** Replica timings in milliseconds. */
export type ReplicaTimings = z.output<typeof controllerReplicasSchema>;

/** The replicas' timings in force: the section's, or its defaults when it is left out. */
export function replicaTimings(config: { replicas?: ReplicaTimings | undefined }): ReplicaTimings {
  return config.replicas ?? controllerReplicasSchema.parse({});
}

/** A `replicas` section needs `store.postgres`. */
function checkReplicasAgainstStore(config: { replicas?: unknown; store: { postgres?: unknown } }, ctx: z.RefinementCtx): void {
  if (config.replicas === undefined || config.store?.postgres !== undefined) return;
  ctx.addIssue({
    code: "custom",
    path: ["replicas"],
    message: "only with store.postgres (on SQLite there is one controller and nothing to coordinate): set store.postgres or remove the section",
  });
}

/** Logging. */
export const controllerLogSchema = z.strictObject({
  /** Lowest level written: trace, debug, info, warn, error, fatal or silent. Default: "info". */
  level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** "json" (one object per line, for journald) or "pretty" (for a terminal). Default: "json". */
  format: z.enum(["json", "pretty"]).default("json"),
});

/** Prometheus metrics endpoint. */
export const controllerMetricsSchema = z.strictObject({
  /** Where GET /metrics is served. */
  listen: z
    .strictObject({
      /** Address. Default: "127.0.0.1". */
      host: z.string().min(1).default("127.0.0.1"),
      /** Port; 0 picks a free one. Default: 9464. */
      port: z.number().int().min(0).max(65535).default(9464),
    })
    .default({ host: "127.0.0.1", port: 9464 }),
});

/** The local admin endpoint `secarc status` reads. */
export const controllerAdminSchema = z.strictObject({
  /**
   * Path of the unix socket (mode 0600, owner only) serving the controller's
   * state to `secarc status`. Default: "admin.sock" in the store's directory.
   */
  socket: z.string().min(1).max(100, "a unix socket path has at most 100 characters").optional(),
});

/** The controller's config file. */
export const controllerConfigSchema = z.strictObject({
  /** Where agents connect. Default: 0.0.0.0:8443. */
  listen: controllerListenSchema.default({ host: "0.0.0.0", port: 8443 }),
  /** Mutual TLS material. Required. */
  tls: controllerTlsSchema,
  /** The store: SQLite at /var/lib/secarc/controller/controller.db unless `store.postgres` is set. Default: that SQLite file. */
  store: controllerStoreSchema.default({ path: DEFAULT_STORE_PATH }),
  /** The agent link. Default: 10 s heartbeats and pings, a dead peer found within 30 s, 1 MiB messages, an offline alert after 2 min, streams renewed after 45 ± 5 min. */
  link: controllerLinkSchema.prefault({}),
  /** Agents' detectors. Default: a blind-detector warning after 10 min without a source. */
  detectors: controllerDetectorsSchema.default({ blindAlertAfter: 600_000 }),
  /** The Telegram bridge. Default: none (alerts are stored, not shown). */
  telegram: telegramConfigSchema.optional(),
  /** Logging. Default: info, json. */
  log: controllerLogSchema.default({ level: "info", format: "json" }),
  /** Prometheus metrics. Default: none. */
  metrics: controllerMetricsSchema.optional(),
  /** The local admin socket for `secarc status`. Default: admin.sock beside the store. */
  admin: controllerAdminSchema.default({}),
  /** What happens to alerts nobody answers. Default: nothing (they wait for a human until they expire). */
  policy: noAnswerPolicySchema.default({ rules: [] }),
  /** Scheduled maintenance windows (cron + duration) that silence alerts like /silence does. Default: none. */
  silences: silencesConfigSchema.default({ windows: [], checkEvery: 15_000 }),
  /** Timings of replicas on `store.postgres`; refused without it. Default: 2 s heartbeats, dead after 15 s, a 15 s Telegram lease, actions swept every 3 s. */
  replicas: controllerReplicasSchema.optional(),
})
  .superRefine(checkPolicyAgainstExpiry)
  .superRefine(checkReplicasAgainstStore);

/** The validated config (durations in milliseconds, defaults filled in). */
export type ControllerConfig = z.output<typeof controllerConfigSchema>;
/** The config as written in a file (before defaults). */
export type ControllerConfigInput = z.input<typeof controllerConfigSchema>;
