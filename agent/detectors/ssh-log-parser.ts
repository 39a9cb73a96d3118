/**
 * Splits log lines into sshd records: the message, and from the line's
 * prefix the time, program and PID. Formats: traditional syslog
 * ("Nov 29 04:44:22 host sshd[123]: ..."), RFC 3339 (rsyslog's high
 * precision), RFC 5424 ("<38>1 2019-07-08T17:40:16.954-04:00 host sshd
 * 57915 - - ..."), a bare tag ("sshd[123]: ...") and, when the operator
 * says the file is written by `sshd -E` (`rawNewlines`), bare messages.
 * Program names: sshd, sshd-session, sshd-auth. What the messages mean is
 * ssh-messages.ts.
 */

import { ownField } from "./nginx-log-parser.js";

/** A log record: the message and, when the line had them, time and sshd's PID. */
export interface SshRecord {
  message: string;
  /** Unix ms from the line's own timestamp. */
  time?: number;
  /** From "sshd[PID]:" or journald's _PID. */
  pid?: number;
  /**
   * The record may be a message forged inside another one (a raw newline in
   * a user name: `sshd -E` files, syslog files written with raw control
   * characters, journald entries from sshd's stderr): it counts only when
   * /proc shows that an sshd serves the connection it names.
   */
  unverified?: boolean;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
// "Nov 29 04:44:22 host sshd[123]: message" (traditional syslog, local time, no year)
// (the stamp's fields are read at fixed positions, only when it differs from the last line's)
const TRADITIONAL = /^[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \S+ ([\w.-]+)(?:\[(\d+)\])?: /;
const STAMP = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) /;
// "2026-11-29T04:44:22.123456+00:00 host sshd[123]: message" (RFC 3339, rsyslog's high-precision format)
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) \S+ ([\w.-]+)(?:\[(\d+)\])?: /;
// "<38>1 2019-07-08T17:40:16.954167-04:00 host sshd 57915 - - message" (RFC 5424: PRI VERSION TIME HOST APP PROCID MSGID SD)
const RFC5424 = /^(?:<\d{1,3}>)?1 (\S+) \S+ (\S+) (\S+) \S+ (?:-|\[.*?\]) (?:\uFEFF)?/;
// "sshd[123]: message" (a bare tag)
const BARE_TAG = /^(sshd(?:-session|-auth)?)\[(\d+)\]: /;

/** The last stamp read and its time: lines of one second share it (a Date per line costs more than the rest of the parse). */
let lastStamp = { text: "", reference: Number.NaN, time: 0 };

/** "Mmm dd hh:mm:ss" at the line's start, in local time. */
function traditionalTime(line: string, referenceTime: number): number | undefined {
  const text = line.slice(0, 16);
  // The year depends on the reference only across a year's end: recompute when the reference moved an hour.
  if (text === lastStamp.text && Math.abs(referenceTime - lastStamp.reference) < 3_600_000) return lastStamp.time;
  const m = STAMP.exec(line);
  const month = m ? MONTHS[m[1]!] : undefined;
  if (m === null || month === undefined) return undefined;
  const [day, hour, minute, second] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])];
  const ref = new Date(referenceTime);
  let time = new Date(ref.getFullYear(), month, day, hour, minute, second).getTime();
  if (time > referenceTime + 31 * 86_400_000) {
    time = new Date(ref.getFullYear() - 1, month, day, hour, minute, second).getTime();
  }
  lastStamp = { text: ownField(text), reference: referenceTime, time };
  return time;
}

export function isSshdProgram(name: string): boolean {
  return name === "sshd" || name === "sshd-session" || name === "sshd-auth";
}

/** How a log file's lines are framed. */
export interface SshLineOptions {
  /**
   * The file may hold raw newlines inside a message (`sshd -E FILE`, or
   * rsyslog with `$EscapeControlCharactersOnReceive off`): lines without a
   * prefix are read as sshd's, and every line is `unverified`. Otherwise
   * lines without a syslog prefix naming sshd are refused.
   */
  rawNewlines: boolean;
}

/**
 * Splits a log line into an sshd record, or undefined when the line comes
 * from another program (or has no prefix and the file is not raw).
 * `referenceTime` supplies the year for traditional syslog stamps (a stamp
 * more than a month ahead of it belongs to the year before).
 */
export function parseSshLogLine(line: string, referenceTime: number, options: SshLineOptions = { rawNewlines: false }): SshRecord | undefined {
  const raw = options.rawNewlines;
  let m = TRADITIONAL.exec(line);
  if (m) {
    if (!isSshdProgram(m[1]!)) return undefined;
    const time = traditionalTime(line, referenceTime);
    if (time === undefined) return undefined;
    return record(line.slice(m[0].length), time, m[2], raw);
  }
  m = RFC3339.exec(line);
  if (m) {
    if (!isSshdProgram(m[2]!)) return undefined;
    const time = Date.parse(m[1]!);
    return record(line.slice(m[0].length), Number.isNaN(time) ? undefined : time, m[3], raw);
  }
  m = RFC5424.exec(line);
  if (m) {
    if (!isSshdProgram(m[2]!)) return undefined;
    const time = m[1] === "-" ? Number.NaN : Date.parse(m[1]!);
    return record(line.slice(m[0].length), Number.isNaN(time) ? undefined : time, /^\d+$/.test(m[3]!) ? m[3] : undefined, raw);
  }
  if (!raw) return undefined;
  m = BARE_TAG.exec(line);
  if (m) return record(line.slice(m[0].length), undefined, m[2], true);
  return record(line, undefined, undefined, true);
}

function record(message: string, time: number | undefined, pid: string | undefined, unverified: boolean): SshRecord {
  const out: SshRecord = { message };
  if (time !== undefined) out.time = time;
  if (pid !== undefined) out.pid = Number(pid);
  if (unverified) out.unverified = true;
  return out;
}
