import type { Nginx404Config } from "./config.js";
import { createClientResolver } from "./client-address.js";
import type { LineStats } from "./line-processor.js";
import { createWebScanner, type CompiledWebFormat } from "./web-log-format.js";
import { MALFORMED, type WebLineScanner } from "./web-log-scanner.js";

/**
 * The reading half of the 404 detector: classifies each line (counted in
 * `stats`: lines, malformed, events) and hands on every HTTP 404 with a
 * usable client and time. The counting half (the sliding window, alerts)
 * is in nginx-404.ts. Live runs use both in one thread; the parallel replay
 * (replay-parallel.ts) runs readers in worker threads and one window over
 * their events. Imports nothing heavy: a worker starts fast.
 */

export const NGINX_404_STATUS = 404;
/** Longest path kept in an alert (chars). */
export const MAX_PATH_CHARS = 200;

/** The fields of the line being counted that an alert keeps. */
export interface EventFields {
  /** The requested path (UTF-8), cut to `maxLength` chars. */
  path(maxLength: number): string;
  /** The virtual host ("" when the format has none). */
  vhost(): string;
}

/** Receives one 404: the client address (still a slice of the line), its time (Unix ms), the line's fields. */
export type Nginx404EventSink = (ip: string, time: number, fields: EventFields) => void;

export type Nginx404ReaderSettings = Pick<Nginx404Config, "trustedProxies"> & {
  /** The compiled `format` (web-log-format.ts). Default: combined. */
  compiled?: CompiledWebFormat;
};

/** A line sink (text, start, end) that counts lines and hands 404 events to `event`. */
export function createNginx404Reader(settings: Nginx404ReaderSettings, stats: LineStats, event: Nginx404EventSink): (text: string, start: number, end: number) => void {
  const scanner: WebLineScanner = createWebScanner(settings.compiled ?? { type: "combined" }, NGINX_404_STATUS);
  const client = createClientResolver(settings.trustedProxies);
  return (text, start, end) => {
    stats.lines += 1;
    const status = scanner.status(text, start, end);
    if (status !== NGINX_404_STATUS) {
      if (status === MALFORMED) stats.malformed += 1;
      return;
    }
    const time = scanner.time();
    const ip = client(scanner.peer(), scanner.forwardedFor());
    if (Number.isNaN(time) || ip === undefined) {
      stats.malformed += 1;
      return;
    }
    stats.events += 1;
    event(ip, time, scanner);
  };
}
