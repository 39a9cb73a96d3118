import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SHARED_KINDS } from "../../common/alert-kinds.js";
import { AlertKind, AlertState, HttpErrorsSchema, Severity } from "../../gen/secarc/v1/alert_pb.js";
import { buildAlert, newTrack, type AlertTrack } from "./alert-builder.js";
import { createBurstTracker, type Burst, type BurstChange } from "./burst-tracker.js";
import type { Nginx404Config } from "./config.js";
import type { LineProcessor, LineProcessorDeps } from "./line-processor.js";
import { newLineStats } from "./line-processor.js";
import { MAX_PATH_CHARS, NGINX_404_STATUS, createNginx404Reader, type EventFields } from "./nginx-404-reader.js";
import { ownField } from "./nginx-log-parser.js";
import type { CompiledWebFormat } from "./web-log-format.js";

/**
 * HTTP 404 bursts: counts responses whose status field is 404 per client
 * address in a sliding window of the log's own time; one alert per client
 * per burst, escalated once (warning → critical), resolved when the window
 * empties. Lines are read by the configured format's scanner; the client is
 * the peer address, or behind a trusted proxy the right-most untrusted
 * X-Forwarded-For entry (client-address.ts). A line whose client is not an
 * IP address is malformed (counted), never a block target. Answers: IGNORE,
 * BLOCK_IP, ALLOW (trust the client for a while).
 *
 * Two halves: the reader (nginx-404-reader.ts) turns lines into 404 events;
 * the window (`createNginx404Window`) counts them and raises the alerts. The
 * parallel replay runs readers in several threads and one window.
 */

const STATUS = NGINX_404_STATUS;

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

/** The counting half: 404 events in, alerts out. */
export interface Nginx404Window {
  /** One 404 of `ip` at `time` (Unix ms); `fields` are read only when the burst keeps paths. */
  record(ip: string, time: number, fields: EventFields): void;
  /** Time passed: resolves bursts whose window emptied by `now`. */
  sweep(now: number): void;
  /** End of input: resolves every open burst. */
  flush(): void;
}

export function createNginx404Window(settings: Nginx404Settings, deps: LineProcessorDeps): Nginx404Window {
  const logFile = settings.logFile ?? "";
  const keepPaths = settings.recentPaths;
  /** The fields of the event being recorded. */
  let fields: EventFields | undefined;

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
    // `fields` still refer to the line being counted (the tracker calls this before it reports a change).
    const path = fields!.path(MAX_PATH_CHARS);
    const extra = burst.extra;
    extra.vhost = fields!.vhost();
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
    record(ip, time, eventFields) {
      // The key lives as long as the burst: it must not keep the chunk alive.
      const key = tracker.get(ip) === undefined ? ownField(ip) : ip;
      if (keepPaths === 0) tracker.record(key, time);
      else {
        fields = eventFields;
        tracker.record(key, time, keepPath);
        fields = undefined;
      }
    },
    sweep: (now) => tracker.sweep(now),
    flush: () => tracker.flush(),
  };
}

export function createNginx404Processor(settings: Nginx404Settings, deps: LineProcessorDeps): LineProcessor {
  const stats = newLineStats();
  const window = createNginx404Window(settings, deps);
  const line = createNginx404Reader(settings, stats, window.record);
  return {
    stats,
    line,
    tick: window.sweep,
    finish: window.flush,
  };
}
