import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SHARED_KINDS } from "../../common/alert-kinds.js";
import { AlertKind, AlertState, HttpErrorsSchema, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { buildAlert, newTrack, type AlertTrack } from "./alert-builder.js";
import { createBurstTracker, type Burst, type BurstChange } from "./burst-tracker.js";
import type { Nginx404Config } from "./config.js";
import type { LineProcessor, LineProcessorDeps } from "./line-processor.js";
import { newLineStats } from "./line-processor.js";
import { createClientResolver } from "./client-address.js";
import { ownField } from "./nginx-log-parser.js";
import { createWebScanner, type CompiledWebFormat } from "./web-log-format.js";
import { MALFORMED } from "./web-log-scanner.js";

/**
 * HTTP 404 bursts: counts responses whose status field is 404 per client
 * address in a sliding window of the log's own time; one alert per client
 * per burst, escalated once (warning → critical), resolved when the window
 * empties. Lines are read by the configured format's scanner; the client is
 * the peer address, or behind a trusted proxy the right-most untrusted
 * X-Forwarded-For entry (client-address.ts). A line whose client is not an
 * IP address is malformed (counted), never a block target. Answers: IGNORE,
 * BLOCK_IP, ALLOW (trust the client for a while).
 */

const STATUS = 404;
const MAX_PATH_CHARS = 200;

export type Nginx404Settings = Pick<Nginx404Config, "window" | "warning" | "critical" | "recentPaths" | "maxClients" | "trustedProxies"> & {
  /** The compiled `format` (web-log-format.ts). Default: combined. */
  compiled?: CompiledWebFormat;
  /** The log file the lines come from, named in alerts. Default: none. */
  logFile?: string;
};

interface ClientBurst {
  track: AlertTrack | undefined;
  /** Recent paths (UTF-8, own copies); a ring of `recentPaths` entries. */
  paths: string[];
  nextPath: number;
  /** The virtual host of the latest kept line ("" when the format has none). */
  vhost: string;
}

export function createNginx404Processor(settings: Nginx404Settings, deps: LineProcessorDeps): LineProcessor {
  const stats = newLineStats();
  const scanner = createWebScanner(settings.compiled ?? { type: "combined" }, STATUS);
  const client = createClientResolver(settings.trustedProxies);
  const logFile = settings.logFile ?? "";
  const keepPaths = settings.recentPaths;

  function recentPaths(extra: ClientBurst): string[] {
    const { paths, nextPath } = extra;
    return paths.length < keepPaths ? [...paths] : [...paths.slice(nextPath), ...paths.slice(0, nextPath)];
  }

  function onChange(change: BurstChange, burst: Burst<ClientBurst>, at: number): void {
    const extra = burst.extra;
    if (extra.track === undefined) extra.track = newTrack(at, Severity.WARNING);
    const resolved = change === "resolved";
    const severity = burst.level === 2 ? Severity.CRITICAL : Severity.WARNING;
    const count = resolved ? burst.peak : burst.count;
    const what = resolved ? "ended" : severity === Severity.CRITICAL ? "critical" : "warning";
    deps.emit(
      buildAlert(extra.track, AlertKind.HTTP_404_BURST, SHARED_KINDS[AlertKind.HTTP_404_BURST].answers, at, {
        severity,
        state: resolved ? AlertState.RESOLVED : AlertState.OPEN,
        summary: `${count} HTTP 404 responses to ${burst.key} within ${settings.window / 1000}s (${what})${logFile ? ` in ${logFile}` : ""}`,
        subject: {
          case: "httpErrors",
          value: create(HttpErrorsSchema, {
            clientIp: burst.key,
            status: STATUS,
            count,
            window: durationFromMs(settings.window),
            recentPaths: recentPaths(extra),
            firstSeen: timestampFromMs(burst.firstSeen),
            lastSeen: timestampFromMs(burst.lastSeen),
            logFile,
            virtualHost: extra.vhost,
          }),
        },
      }),
    );
  }

  /**
   * Paths only matter in alerts, so they are kept only for bursts that have
   * an alert or are within `recentPaths` events of one: the count grows by
   * one per event, so the last `recentPaths` events before a raise all had a
   * count above warning - recentPaths. Normal traffic pays nothing.
   */
  function keepPath(burst: Burst<ClientBurst>): void {
    if (burst.level === 0 && burst.count <= settings.warning - keepPaths) return;
    // The scanner still holds the line being counted (the tracker calls this before it reports a change).
    const path = scanner.path(MAX_PATH_CHARS);
    const extra = burst.extra;
    extra.vhost = scanner.vhost();
    if (extra.paths.length < keepPaths) extra.paths.push(path);
    else {
      extra.paths[extra.nextPath] = path;
      extra.nextPath = (extra.nextPath + 1) % keepPaths;
    }
  }

  const tracker = createBurstTracker<ClientBurst>({
    windowMs: settings.window,
    warning: settings.warning,
    critical: settings.critical,
    maxKeys: settings.maxClients,
    newExtra: () => ({ track: undefined, paths: [], nextPath: 0, vhost: "" }),
    onChange,
  });

  return {
    stats,
    line(text, start, end) {
      stats.lines += 1;
      const status = scanner.status(text, start, end);
      if (status !== STATUS) {
        if (status === MALFORMED) stats.malformed += 1;
        return;
      }
      const time = scanner.time();
      const ip = client(scanner.peer(), scanner.forwardedFor());
      if (Number.isNaN(time) || ip === undefined) {
        stats.malformed += 1;
        return;
      }
      // The key lives as long as the burst: it must not keep the chunk alive.
      const key = tracker.get(ip) === undefined ? ownField(ip) : ip;
      stats.events += 1;
      if (keepPaths === 0) tracker.record(key, time);
      else tracker.record(key, time, keepPath);
    },
    tick(now) {
      tracker.sweep(now);
    },
    finish() {
      tracker.flush();
    },
  };
}
