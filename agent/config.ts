import { labelsSchema } from "../common/labels.js";
import type { X509Certificate } from "node:crypto";
import { z } from "zod";
import { durationMs } from "../common/config.js";
import { SecarcError } from "../common/errors.js";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../common/link-timeouts.js";
import { isValidAgentId } from "../common/ids.js";
import { certificateIdentity } from "../common/tls.js";
import { controllerEndpointsSchema } from "./controller-endpoints.js";
import { detectorsConfigSchema } from "./detectors/config.js";
import { blockConfigSchema, respondersConfigSchema } from "./responders/config.js";

/**
 * The agent's config file (YAML or JSON), validated strictly: unknown keys
 * are errors. Every key is documented with its default; durations are
 * written as "500ms", "30s", "5m" or a number of seconds.
 */

/** The link to the controller: reconnects, keepalive, message size. */
export const agentLinkConfigSchema = z
  .strictObject({
    /** First wait before reconnecting after a stream ends; the ceiling doubles after every round over the endpoints that failed (full jitter). Default: 500ms. */
    backoffInitial: durationMs().default(500),
    /** Longest wait between reconnect attempts. Default: 30s. */
    backoffMax: durationMs().default(30_000),
    /** How often an HTTP/2 ping checks that the controller is still there. Default: 10s. */
    keepaliveTime: durationMs().default(10_000),
    /** How long a ping may go unanswered before the connection counts as dead. Default: 5s. */
    keepaliveTimeout: durationMs().default(5_000),
    /** Largest message sent or accepted, in bytes; larger alerts are refused at emit. Default: 1048576 (1 MiB). */
    maxMessageBytes: z.number().int().min(1024).max(64 * 1_048_576).default(1_048_576),
    /**
     * How long to wait for Welcome after opening a stream before giving up on
     * it. Default: 30s — past the wait a survivor's accept queue can hold in a
     * reconnect herd; a shorter one makes agents give up on handshakes the
     * controller already paid for, and come back for another (docs/performance.md).
     */
    connectTimeout: durationMs().default(DEFAULT_CONNECT_TIMEOUT_MS),
  })
  .refine((link) => link.backoffInitial > 0 && link.backoffInitial <= link.backoffMax, {
    message: "backoffInitial must be above 0 and at most backoffMax",
    path: ["backoffInitial"],
  })
  .prefault({});

export const agentConfigSchema = z.strictObject({
  /**
   * This agent's id. Optional: by default the common name of the client
   * certificate (`tls.cert`); when given it must equal it, or the controller
   * refuses the stream. Letters, digits, '.', '_' and '-', 1-64 characters.
   */
  agentId: z.string().refine(isValidAgentId, "letters, digits, '.', '_' and '-', 1-64 characters").optional(),
  /** Labels sent to the controller in Hello (e.g. `{ team: db, env: prod }`), for its routes and silences; shown in /status. Default: none. */
  labels: labelsSchema().default({}),
  /** Takes part in "Block on all servers" (false: this server is opted out; blocks on its own alerts still apply). Default: true. */
  fleetBlocks: z.boolean().default(true),
  /**
   * Where the controller listens: `{ address: "host:port" }`, or
   * `{ address: [a, b, ...] }` for replicas (or just `controller: [a, b]`),
   * plus `serverName` (agent/controller-endpoints.ts). Required.
   */
  controller: controllerEndpointsSchema,
  /** PEM files from `secarc certs` (all required). */
  tls: z.strictObject({
    /** The SecARC CA certificate (ca.pem). */
    ca: z.string().min(1),
    /** This agent's certificate (agents/NAME.pem). */
    cert: z.string().min(1),
    /** This agent's private key (agents/NAME-key.pem). */
    key: z.string().min(1),
  }),
  /** Directory for the agent's state (outbox and action journal in agent.db, responder state). Default: /var/lib/secarc/agent. */
  stateDir: z.string().min(1).default("/var/lib/secarc/agent"),
  /** The link to the controller. */
  link: agentLinkConfigSchema,
  /** Detectors (see agent/detectors/config.ts); all enabled by default. */
  detectors: detectorsConfigSchema,
  /** Responders (see agent/responders/config.ts). */
  responders: respondersConfigSchema,
  /** How much a block of one address covers: `ipv6Prefix` (default 64) and `ipv4Prefix` (default 32). */
  block: blockConfigSchema,
  /** The alert rate limit of this agent (agent/outbox/alert-rate-limit.ts). */
  alerts: z
    .strictObject({
      /**
       * Alerts per minute sent one by one (a burst of that many passes at
       * once); above it new alerts are folded into one counted digest alert
       * (kind ALERTS_FOLDED: how many of each kind, first and last time),
       * never dropped silently. 1-100,000. Default: 120.
       */
      maxPerMinute: z.number().int().min(1).max(100_000).default(120),
      /** How often an open digest is sent again with its counts; it ends after one interval without folding. 1s-1h. Default: 1m. */
      digestInterval: durationMs()
        .refine((ms) => ms >= 1000 && ms <= 3_600_000, "between 1s and 1h")
        .default(60_000),
    })
    .prefault({}),
  /** Logging. */
  log: z
    .strictObject({
      /** Lowest level written: trace, debug, info, warn, error, fatal or silent. Default: info. */
      level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
      /** "json" (one object per line) or "pretty" (for a terminal). Default: json. */
      format: z.enum(["json", "pretty"]).default("json"),
    })
    .prefault({}),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;
/** The config as written in a file (before defaults). */
export type AgentConfigInput = z.input<typeof agentConfigSchema>;
export type AgentLinkConfig = z.output<typeof agentLinkConfigSchema>;

/**
 * The agent's id: `agentId` from the config, else the certificate's common
 * name; when both are there they must agree (the controller refuses a Hello
 * that claims another id than the certificate's).
 */
export function resolveAgentId(config: Pick<AgentConfig, "agentId" | "tls">, certificate: X509Certificate | Buffer | string): string {
  const certId = certificateIdentity(certificate);
  const agentId = config.agentId ?? certId;
  if (!agentId) throw new SecarcError("config_invalid", `agent certificate ${config.tls.cert} has no common name; set agentId`);
  if (certId !== undefined && agentId !== certId) {
    throw new SecarcError("config_invalid", `agentId "${agentId}" differs from the certificate's identity "${certId}"; the controller would refuse it`);
  }
  return agentId;
}
