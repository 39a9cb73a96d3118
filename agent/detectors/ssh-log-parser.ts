import { isIP } from "node:net";

/**
 * Parses sshd's log lines, defensively. The user name is text an attacker
 * chooses ("Invalid user x from 1.2.3.4 port 22 from ..."), so every address
 * is taken from sshd's own fields at the END of the message: the user part
 * is matched greedily, so the last "from IP port N" wins, and the address
 * must parse as an IP. sshd writes its fields after the user name, and
 * nothing after them but a fixed suffix (" ssh2", a key fingerprint,
 * " [preauth]").
 */

/** A log record: the message and, when the line had them, time and sshd's PID. */
export interface SshRecord {
  message: string;
  /** Unix ms from the line's own timestamp. */
  time?: number;
  /** From "sshd[PID]:" or journald's _PID. */
  pid?: number;
}

export type SshEvent =
  | { type: "accepted"; method: string; user: string; ip: string; port: number }
  | { type: "failed"; method: string; user: string; invalidUser: boolean; ip: string; port: number }
  | { type: "invalid-user"; user: string; ip: string; port: number }
  | { type: "preauth-closed"; user: string; ip: string; port: number }
  | { type: "max-attempts"; user: string; ip: string; port: number }
  | { type: "disconnected"; user: string; ip: string; port: number }
  | { type: "received-disconnect"; ip: string; port: number }
  | { type: "session-closed"; user: string };

/** Longest message looked at; sshd's own lines are far shorter. */
const MAX_MESSAGE = 2048;

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
// "Nov 29 04:44:22 host sshd[123]: message" (traditional syslog, local time, no year)
const TRADITIONAL = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) \S+ ([\w.-]+)(?:\[(\d+)\])?: /;
// "2026-11-29T04:44:22.123456+00:00 host sshd[123]: message" (RFC 3339, rsyslog's high-precision format)
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) \S+ ([\w.-]+)(?:\[(\d+)\])?: /;
// "sshd[123]: message" (a bare tag)
const BARE_TAG = /^(sshd(?:-session|-auth)?)\[(\d+)\]: /;

function isSshdProgram(name: string): boolean {
  return name === "sshd" || name === "sshd-session" || name === "sshd-auth";
}

/**
 * Splits a log line into an sshd record, or undefined when the line comes
 * from another program. Lines without any prefix (written by `sshd -E FILE`)
 * are sshd's. `referenceTime` supplies the year for traditional syslog stamps
 * (a stamp more than a month ahead of it belongs to the year before).
 */
export function parseSshLogLine(line: string, referenceTime: number): SshRecord | undefined {
  let m = TRADITIONAL.exec(line);
  if (m) {
    if (!isSshdProgram(m[6]!)) return undefined;
    const month = MONTHS[m[1]!];
    if (month === undefined) return undefined;
    const ref = new Date(referenceTime);
    let time = new Date(ref.getFullYear(), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])).getTime();
    if (time > referenceTime + 31 * 86_400_000) {
      time = new Date(ref.getFullYear() - 1, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])).getTime();
    }
    return record(line.slice(m[0].length), time, m[7]);
  }
  m = RFC3339.exec(line);
  if (m) {
    if (!isSshdProgram(m[2]!)) return undefined;
    const time = Date.parse(m[1]!);
    return record(line.slice(m[0].length), Number.isNaN(time) ? undefined : time, m[3]);
  }
  m = BARE_TAG.exec(line);
  if (m) return record(line.slice(m[0].length), undefined, m[2]);
  return record(line, undefined, undefined);
}

function record(message: string, time: number | undefined, pid: string | undefined): SshRecord {
  const out: SshRecord = { message };
  if (time !== undefined) out.time = time;
  if (pid !== undefined) out.pid = Number(pid);
  return out;
}

const ACCEPTED = /^Accepted (\S+) for (.+) from (\S+) port (\d+) ssh2(?:: .*)?$/s;
const FAILED = /^Failed (\S+) for (invalid user )?(.*) from (\S+) port (\d+) ssh2(?:: .*)?$/s;
const INVALID_USER = /^Invalid user (.*) from (\S+) port (\d+)$/s;
const PREAUTH_CLOSED = /^(?:Connection closed by|Disconnected from) (?:authenticating|invalid) user (.*) (\S+) port (\d+) \[preauth\]$/s;
const MAX_ATTEMPTS = /^(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?(.*) from (\S+) port (\d+) ssh2 \[preauth\]$/s;
const DISCONNECTED = /^Disconnected from user (.*) (\S+) port (\d+)$/s;
const RECEIVED_DISCONNECT = /^Received disconnect from (\S+) port (\d+):\d+:/;
const SESSION_CLOSED = /^pam_unix\(sshd:session\): session closed for user (.+)$/s;

function address(ip: string | undefined, port: string | undefined): { ip: string; port: number } | undefined {
  if (ip === undefined || port === undefined || isIP(ip) === 0) return undefined;
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) return undefined;
  return { ip, port: n };
}

/**
 * The SSH event a message reports, null for messages of no interest, or
 * undefined for a message that looks like one of ours but does not parse
 * (e.g. an address that is not an IP): callers count it as malformed.
 */
export function parseSshMessage(raw: string): SshEvent | null | undefined {
  if (raw.length > MAX_MESSAGE) return null;
  const message = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  let m: RegExpExecArray | null;
  if (message.startsWith("Accepted ")) {
    if (!(m = ACCEPTED.exec(message))) return undefined;
    const at = address(m[3], m[4]);
    return at && { type: "accepted", method: m[1]!, user: m[2]!, ...at };
  }
  if (message.startsWith("Failed ")) {
    if (!(m = FAILED.exec(message))) return undefined;
    const at = address(m[4], m[5]);
    return at && { type: "failed", method: m[1]!, user: m[3]!, invalidUser: m[2] !== undefined, ...at };
  }
  if (message.startsWith("Invalid user ")) {
    if (!(m = INVALID_USER.exec(message))) return undefined;
    const at = address(m[2], m[3]);
    return at && { type: "invalid-user", user: m[1]!, ...at };
  }
  if (message.startsWith("Connection closed by ") || message.startsWith("Disconnected from ")) {
    if ((m = PREAUTH_CLOSED.exec(message))) {
      const at = address(m[2], m[3]);
      return at && { type: "preauth-closed", user: m[1]!, ...at };
    }
    if ((m = DISCONNECTED.exec(message))) {
      const at = address(m[2], m[3]);
      return at && { type: "disconnected", user: m[1]!, ...at };
    }
    return null;
  }
  if (message.includes("maximum authentication attempts exceeded")) {
    if (!(m = MAX_ATTEMPTS.exec(message))) return undefined;
    const at = address(m[2], m[3]);
    return at && { type: "max-attempts", user: m[1]!, ...at };
  }
  if (message.startsWith("Received disconnect from ")) {
    if (!(m = RECEIVED_DISCONNECT.exec(message))) return undefined;
    const at = address(m[1], m[2]);
    return at && { type: "received-disconnect", ...at };
  }
  if ((m = SESSION_CLOSED.exec(message))) return { type: "session-closed", user: m[1]! };
  return null;
}
