import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/**
 * This controller process's name among the replicas: host, pid and a random
 * part, so that a restarted process (same host, maybe the same pid in a
 * container) is a new replica whose claims and leases get new epochs.
 */
export function newReplicaId(host: string = hostname(), pid: number = process.pid): string {
  const safeHost = host.replace(/[^A-Za-z0-9.-]/g, "_").slice(0, 64) || "host";
  return `${safeHost}-${pid}-${randomBytes(4).toString("hex")}`;
}
