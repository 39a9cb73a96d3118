import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { startNsDaemon, tcpConnects } from "./netns.js";

/**
 * A real nginx (Debian nginx-light, /usr/sbin/nginx) inside a network
 * namespace, with a generated config in a temporary directory.
 *
 * It listens on port 80 over IPv4 and IPv6, answers 200 "ok" for "/" and
 * 404 for every other path, and writes its access log in nginx's
 * "combined" format to `accessLog`:
 *
 *   10.231.7.10 - - [29/Nov/2026:05:12:01 +0000] "GET /missing HTTP/1.1" 404 153 "-" "curl/7.88.1"
 */
export interface NginxServer {
  /** The temporary directory holding config, logs and pid file. */
  dir: string;
  /** The access log, combined format. */
  accessLog: string;
  /** The error log. */
  errorLog: string;
  /** The port (80). */
  port: number;
  /** The nginx master process (spawned with `daemon off`). */
  process: ChildProcess;
  /** Stops nginx and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartNginxOptions {
  /** Port to listen on. Default: 80. */
  port?: number;
  /** Give up waiting for nginx to answer after this long. Default: 10 s. */
  startTimeoutMs?: number;
  /** A `log_format` value as written in nginx.conf (e.g. `escape=json '{...}'`) for the access log. Default: combined. */
  logFormat?: string;
}

export const NGINX_BIN = "/usr/sbin/nginx";

/** Starts nginx in namespace `ns` and waits until it accepts connections on 127.0.0.1 (the access log stays empty). */
export async function startNginx(ns: string, options: StartNginxOptions = {}): Promise<NginxServer> {
  const port = options.port ?? 80;
  const dir = mkdtempSync(join(tmpdir(), "secarc-nginx-"));
  const accessLog = join(dir, "access.log");
  const errorLog = join(dir, "error.log");
  const temp = join(dir, "tmp");
  mkdirSync(temp);
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    [
      "daemon off;",
      "master_process on;",
      "worker_processes 1;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${errorLog} info;`,
      "events { worker_connections 128; }",
      "http {",
      ...(options.logFormat === undefined ? [`  access_log ${accessLog} combined;`] : [`  log_format custom ${options.logFormat};`, `  access_log ${accessLog} custom;`]),
      `  client_body_temp_path ${temp}/body;`,
      `  proxy_temp_path ${temp}/proxy;`,
      `  fastcgi_temp_path ${temp}/fastcgi;`,
      `  uwsgi_temp_path ${temp}/uwsgi;`,
      `  scgi_temp_path ${temp}/scgi;`,
      "  server {",
      `    listen ${port};`,
      `    listen [::]:${port} ipv6only=on;`,
      "    location = / { default_type text/plain; return 200 \"ok\\n\"; }",
      "    location / { return 404; }",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  const daemon = await startNsDaemon({
    name: "nginx",
    ns,
    file: NGINX_BIN,
    args: ["-p", dir, "-e", errorLog, "-c", conf],
    dir,
    // A bare TCP connect: nginx logs nothing for a connection without a request,
    // so the access log starts empty.
    ready: () => tcpConnects(ns, "127.0.0.1", port, 1000),
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
  });
  return { dir, accessLog, errorLog, port, process: daemon.process, stop: daemon.stop };
}
