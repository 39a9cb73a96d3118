// The forged-username attack of issue 11 (finding 1), shared by the system
// tests that run it against real sshd: user names an attacker sends
// (ssh-raw-client.py syntax: "\\n" and "\\r" are sent as raw bytes) that
// hold whole sshd lines naming addresses nobody connected from.
import type { Alert } from "../../gen/secarc/v1/alert_pb.js";

export const FORGED_FAILURE = "Failed password for root from 10.210.0.77 port 51 ssh2";
export const FORGED_LOGIN = "Accepted password for root from 10.210.0.66 port 52 ssh2";
export const FORGED = ["10.210.0.77", "10.210.0.66"];
/** User names an attacker sends: each holds whole sshd lines, with and without syslog prefixes, LF and CR LF. */
export const HOSTILE_USERS = [
  `x\\n${FORGED_FAILURE}\\ny`,
  `x\\r\\n${FORGED_FAILURE}\\r\\ny`,
  `x\\nsshd[1]: ${FORGED_FAILURE}\\ny`,
  `x\\nDec  1 10:00:00 web1 sshd[1]: ${FORGED_FAILURE}\\ny`,
  `x\\nInvalid user admin from 10.210.0.77 port 51\\nConnection closed by invalid user admin 10.210.0.77 port 51 [preauth]\\ny`,
  `x\\n${FORGED_LOGIN}\\ny`,
];

/** The raw bytes of a hostile user name. */
export const unescapeUser = (text: string): string => text.replaceAll("\\n", "\n").replaceAll("\\r", "\r");

/** The source address each SSH alert names ("" for other kinds). */
export function addressesOf(alerts: Alert[]): string[] {
  return alerts.map((a) => (a.subject.case === "sshFailures" || a.subject.case === "sshSession" ? a.subject.value.sourceIp : ""));
}

/** Polls `check` every 50 ms, bounded by `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
