import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { SecarcError, describeError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import type { StatusReport } from "./status-report.js";

export interface AdminServerOptions {
  /** Path of the unix socket; a stale socket left by a killed controller is replaced. */
  path: string;
  logger: Logger;
  /** The report GET /status answers with. */
  status: () => Promise<StatusReport>;
}

export interface AdminServer {
  path: string;
  close(): Promise<void>;
}

/**
 * The local admin endpoint: HTTP on a unix socket, mode 0600 (the
 * controller's user only; root passes anyway), read-only: GET /status
 * answers the StatusReport as JSON. Nothing listens on the network.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { path, logger } = options;
  removeStaleSocket(path);
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/status") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    options.status().then(
      (report) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(report)),
      (err: unknown) => {
        logger.error({ err: describeError(err) }, "admin: the status report failed");
        res.writeHead(500, { "content-type": "text/plain" }).end(`${describeError(err)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new SecarcError("unavailable", `cannot listen on the admin socket ${path}: ${describeError(err)}`, { cause: err })));
    // Bound (synchronously) under a umask that leaves the owner alone, then made 0600 for certain.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  chmodSync(path, 0o600);
  logger.info({ socket: path }, "admin socket ready (secarc status)");
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A socket file left by a controller that was killed; anything else at the path is refused. */
function removeStaleSocket(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new SecarcError("config_invalid", `admin.socket ${path} exists and is not a socket; remove it or set admin.socket`);
  unlinkSync(path);
}
