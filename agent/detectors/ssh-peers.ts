import { isIP } from "node:net";
import { ownField } from "./nginx-log-parser.js";

/**
 * What sshd's messages are parsed into (see ssh-messages.ts): the events,
 * the places where sshd's "host [port]" fields fit, and the checks of a
 * host and a port taken from a message.
 */

/** One place where sshd's "host [port]" fields fit. */
export interface SshPeer {
  host: string;
  port?: number;
}

/** What a failure family counts as: "normal" and "aggressive" are fail2ban's modes. */
export type FailureLevel = "normal" | "aggressive";

export type SshFamily =
  | "failed"
  | "failed-publickey"
  | "invalid-user"
  | "not-allowed"
  | "root-refused"
  | "pam-failure"
  | "pam-unix"
  | "too-many"
  | "auth-fail-disconnect"
  | "preauth-closed"
  | "change-of-user"
  | "no-auth-methods"
  | "no-identification"
  | "bad-banner"
  | "negotiation"
  | "kex-identification"
  | "preauth-timeout"
  | "preauth-dropped";

export type SshEvent =
  /** "Connection from H port P on S port N" (LogLevel VERBOSE): the connection's address. */
  | { type: "connection"; peers: SshPeer[] }
  /**
   * A failure. `peers`: where sshd's address fits ([] = the message has no
   * address; it is the PID's). `ends`: the message ends the connection.
   */
  | { type: "failure"; family: SshFamily; level: FailureLevel; user: string; peers: SshPeer[]; ends: boolean }
  | { type: "accepted"; method: string; user: string; peers: SshPeer[] }
  /** The connection ended without being a failure itself (a client's normal disconnect). */
  | { type: "ended"; peers: SshPeer[] }
  /** "Disconnected from user U H port P": a logged-in session ended. */
  | { type: "disconnected"; user: string; peers: SshPeer[] }
  | { type: "session-closed"; user: string };

/** Longest message looked at; sshd's own lines are far shorter. */
export const MAX_MESSAGE = 2048;

// A host name has a letter (so "1.2.3" is no name) and only name characters.
const HOSTNAME = /^(?=.{1,253}$)(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/**
 * An sshd host field: an IP address, or where sshd writes the canonical
 * host name (PAM's rhost, "User ... from H not allowed"), a syntactically
 * valid name. sshd's own auth log lines ("Failed", "Accepted", "Invalid
 * user", ...) always carry the address.
 */
export function validHost(host: string, allowName = false): boolean {
  return isIP(host) !== 0 || (allowName && HOSTNAME.test(host));
}

export function peer(host: string | undefined, port?: string, allowName = false): SshPeer | undefined {
  if (host === undefined || !validHost(host, allowName)) return undefined;
  // Kept in maps and alerts: a copy that does not hold the read chunk alive.
  host = ownField(host);
  if (port === undefined) return { host };
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) return undefined;
  return { host, port: n };
}

/** Every position of `pattern` (global, sticky-free) whose host/port groups parse; distinct peers. */
export function candidates(message: string, pattern: RegExp): SshPeer[] {
  const out: SshPeer[] = [];
  for (const m of message.matchAll(pattern)) {
    const p = peer(m[1], m[2]);
    if (p && !out.some((q) => q.host === p.host && q.port === p.port)) out.push(p);
  }
  return out;
}

export const one = (p: SshPeer | undefined): SshPeer[] | undefined => (p ? [p] : undefined);
